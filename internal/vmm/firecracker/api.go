package firecracker

// Request and response bodies of the Firecracker API, with the field names
// of its OpenAPI description (src/firecracker/swagger/firecracker.yaml).
// Only the fields banger uses are modelled. Fields Firecracker treats as
// required, or whose zero value matters, are never omitted.

// MachineConfig is the body of PUT /machine-config.
type MachineConfig struct {
	VcpuCount  int  `json:"vcpu_count"`
	MemSizeMib int  `json:"mem_size_mib"`
	Smt        bool `json:"smt"`
}

// BootSource is the body of PUT /boot-source.
type BootSource struct {
	KernelImagePath string `json:"kernel_image_path"`
	BootArgs        string `json:"boot_args,omitempty"`
	InitrdPath      string `json:"initrd_path,omitempty"`
}

// Drive is the body of PUT /drives/{drive_id}.
type Drive struct {
	DriveID      string `json:"drive_id"`
	PathOnHost   string `json:"path_on_host"`
	IsRootDevice bool   `json:"is_root_device"`
	IsReadOnly   bool   `json:"is_read_only"`
}

// NetworkInterface is the body of PUT /network-interfaces/{iface_id}.
type NetworkInterface struct {
	IfaceID     string `json:"iface_id"`
	HostDevName string `json:"host_dev_name"`
	GuestMac    string `json:"guest_mac,omitempty"`
}

// Vsock is the body of PUT /vsock. The deprecated vsock_id is not sent.
type Vsock struct {
	GuestCID uint32 `json:"guest_cid"`
	UdsPath  string `json:"uds_path"`
}

// Logger is the body of PUT /logger. Level is one of Error, Warning, Info,
// Debug, Trace, Off.
type Logger struct {
	LogPath       string `json:"log_path,omitempty"`
	Level         string `json:"level,omitempty"`
	ShowLevel     bool   `json:"show_level"`
	ShowLogOrigin bool   `json:"show_log_origin"`
}

// Metrics is the body of PUT /metrics.
type Metrics struct {
	MetricsPath string `json:"metrics_path"`
}

// ActionType is the action of PUT /actions.
type ActionType string

// The actions Firecracker accepts on PUT /actions.
const (
	ActionInstanceStart  ActionType = "InstanceStart"
	ActionSendCtrlAltDel ActionType = "SendCtrlAltDel"
	ActionFlushMetrics   ActionType = "FlushMetrics"
)

// InstanceActionInfo is the body of PUT /actions.
type InstanceActionInfo struct {
	ActionType ActionType `json:"action_type"`
}

// InstanceInfo is the response of GET /. State is "Not started", "Running"
// or "Paused".
type InstanceInfo struct {
	AppName    string `json:"app_name"`
	ID         string `json:"id"`
	State      string `json:"state"`
	VMMVersion string `json:"vmm_version"`
}

// FirecrackerVersion is the response of GET /version.
type FirecrackerVersion struct {
	FirecrackerVersion string `json:"firecracker_version"`
}

// apiFault is the body of every non-2xx response.
type apiFault struct {
	FaultMessage string `json:"fault_message"`
}

// VMState is the state of PATCH /vm.
type VMState string

// The states PATCH /vm accepts.
const (
	VMStatePaused  VMState = "Paused"
	VMStateResumed VMState = "Resumed"
)

// VM is the body of PATCH /vm.
type VM struct {
	State VMState `json:"state"`
}

// SnapshotType is the snapshot_type of PUT /snapshot/create.
type SnapshotType string

// SnapshotFull saves all of guest memory.
const SnapshotFull SnapshotType = "Full"

// SnapshotCreateParams is the body of PUT /snapshot/create.
type SnapshotCreateParams struct {
	SnapshotType SnapshotType `json:"snapshot_type"`
	SnapshotPath string       `json:"snapshot_path"`
	MemFilePath  string       `json:"mem_file_path"`
}

// MemBackend is the mem_backend of PUT /snapshot/load. BackendType is
// "File" (BackendPath is the memory file) or "Uffd".
type MemBackend struct {
	BackendType string `json:"backend_type"`
	BackendPath string `json:"backend_path"`
}

// SnapshotLoadParams is the body of PUT /snapshot/load.
type SnapshotLoadParams struct {
	SnapshotPath string     `json:"snapshot_path"`
	MemBackend   MemBackend `json:"mem_backend"`
	ResumeVM     bool       `json:"resume_vm"`
	// NetworkOverrides put restored network interfaces on new host taps;
	// VsockOverride binds the restored vsock device's host socket at a
	// new path. Firecracker versions without them refuse the fields.
	NetworkOverrides []NetworkOverride `json:"network_overrides,omitempty"`
	VsockOverride    *VsockOverride    `json:"vsock_override,omitempty"`
}

// NetworkOverride is one entry of SnapshotLoadParams.NetworkOverrides.
type NetworkOverride struct {
	IfaceID     string `json:"iface_id"`
	HostDevName string `json:"host_dev_name"`
}

// VsockOverride is SnapshotLoadParams.VsockOverride.
type VsockOverride struct {
	UDSPath string `json:"uds_path"`
}

// PartialDrive is the body of PATCH /drives/{drive_id}: a new backing file
// for an attached drive.
type PartialDrive struct {
	DriveID    string `json:"drive_id"`
	PathOnHost string `json:"path_on_host"`
}
