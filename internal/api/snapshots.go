package api

import "time"

// Snapshot states.
const (
	SnapshotCreating = "creating"
	SnapshotReady    = "ready"
	SnapshotDeleting = "deleting"
)

// Snapshot is the saved state of a VM: its VMM's state and memory and
// copies of its disks taken at the same instant, while it was paused.
type Snapshot struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	State     string    `json:"state"`
	VM        string    `json:"vm"`    // the name of the VM it was taken of
	VMID      string    `json:"vm_id"` // that VM's id; the VM may be gone
	Image     string    `json:"image"`
	Driver    string    `json:"driver"` // the VMM driver that saved it
	VCPUs     int       `json:"vcpus"`
	MemoryMiB int       `json:"memory_mib"`
	DiskBytes int64     `json:"disk_bytes"`
	SizeBytes int64     `json:"size_bytes"` // bytes its files take on disk
	CreatedAt time.Time `json:"created_at"`
	// Warm marks a warm-start snapshot: a freshly booted VM of Image in
	// this shape that vm run resumes instead of booting.
	Warm bool `json:"warm,omitempty"`
	// Auto: banger vm fork made it; it is deleted with the last VM made
	// from it.
	Auto bool `json:"auto,omitempty"`
}

// SnapshotVMRequest is the body of POST /v1/vms/{ref}/snapshot. An empty
// name gets a generated one.
type SnapshotVMRequest struct {
	Name string `json:"name,omitempty"`
}

// WarmImageRequest is the body of POST /v1/images/{ref}/warm: the shape
// of the VMs the warm snapshot is for (zero takes the daemon's default,
// as a create does).
type WarmImageRequest struct {
	VCPUs     int   `json:"vcpus,omitempty"`
	MemoryMiB int   `json:"memory_mib,omitempty"`
	DiskBytes int64 `json:"disk_bytes,omitempty"`
}

// WarmImageReply is the warm snapshot; Made says it was made by this
// call (false: a matching one was there already).
type WarmImageReply struct {
	Snapshot Snapshot `json:"snapshot"`
	Made     bool     `json:"made"`
}

// ForkVMRequest is the body of POST /v1/vms/{ref}/fork: count copies (0
// is 1, at most 64) of the running or paused VM. With one copy name is
// its name; with more the copies are name-1, name-2, ...; empty generates
// names. NAT, NetGroup and Labels apply to each copy as in
// CreateVMRequest.
type ForkVMRequest struct {
	Name     string            `json:"name,omitempty"`
	Count    int               `json:"count,omitempty"`
	NAT      *bool             `json:"nat,omitempty"`
	NetGroup string            `json:"net_group,omitempty"`
	Labels   map[string]string `json:"labels,omitempty"`
}
