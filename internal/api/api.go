// Package api holds the wire types of banger's HTTP+JSON API, shared by the
// daemon and its Go client. It contains no logic and imports nothing of
// banger's but errdefs; docs/api.md describes every type and route.
package api

import (
	"encoding/json"
	"time"
)

// Version is the API path prefix.
const Version = "/v1"

// OpIDHeader carries the operation id of every request in responses.
const OpIDHeader = "Banger-Op-Id"

// NDJSON is the media type of streamed progress; a client that accepts it
// gets a stream of Event lines from long operations instead of one reply.
const NDJSON = "application/x-ndjson"

// VM states.
const (
	StateCreating = "creating"
	StateStopped  = "stopped"
	StateStarting = "starting"
	StateRunning  = "running"
	StatePaused   = "paused"
	StateStopping = "stopping"
	StateDeleting = "deleting"
	StateError    = "error"
)

// StateDeleted is the state of a VM's last event on /v1/events, sent once
// the VM is gone; no VM is ever shown in it.
const StateDeleted = "deleted"

// VM is a virtual machine as the API shows it.
type VM struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	State     string    `json:"state"`
	Image     string    `json:"image"`
	VCPUs     int       `json:"vcpus"`
	MemoryMiB int       `json:"memory_mib"`
	DiskBytes int64     `json:"disk_bytes"`
	Driver    string    `json:"driver"`
	PID       int       `json:"pid,omitempty"`
	Dir       string    `json:"dir"`
	LastError string    `json:"last_error,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	StartedAt time.Time `json:"started_at,omitzero"`
	// Network: the leased address and MAC (empty when networking is off),
	// egress and group settings, and the VM's DNS name.
	IP       string `json:"ip,omitempty"`
	MAC      string `json:"mac,omitempty"`
	NAT      bool   `json:"nat"`
	NetGroup string `json:"net_group,omitempty"`
	DNSName  string `json:"dns_name,omitempty"`
	// Labels are the key/value pairs the VM was created with.
	Labels map[string]string `json:"labels,omitempty"`
	// Workspace is the git checkout shipped into the VM, if any.
	Workspace *Workspace `json:"workspace,omitempty"`
	// Snapshot is the snapshot the VM was made from (its name, or its id
	// once it is gone); absent for a VM booted from its image.
	Snapshot string `json:"snapshot,omitempty"`
}

// Workspace says where a VM's workspace came from (the checkout's top
// level on the host and the commit its HEAD was at) and where it lives in
// the guest.
type Workspace struct {
	HostPath   string    `json:"host_path"`
	GuestPath  string    `json:"guest_path"`
	BaseCommit string    `json:"base_commit"`
	Branch     string    `json:"branch,omitempty"`
	PreparedAt time.Time `json:"prepared_at"`
}

// Query parameters of PUT /v1/vms/{ref}/workspace, whose body is the tar
// stream of the workspace (files, and a shallow bare clone under .git/).
const (
	WorkspaceHostPath  = "host_path"
	WorkspaceGuestPath = "guest_path"
	WorkspaceBase      = "base"
	WorkspaceBranch    = "branch"
	WorkspaceOrigin    = "origin"
	WorkspaceUserName  = "user_name"
	WorkspaceUserEmail = "user_email"
)

// CreateVMRequest is the body of POST /v1/vms. Zero values take the
// daemon's configured defaults; an empty name gets a generated one.
type CreateVMRequest struct {
	Name      string `json:"name,omitempty"`
	Image     string `json:"image,omitempty"`
	VCPUs     int    `json:"vcpus,omitempty"`
	MemoryMiB int    `json:"memory_mib,omitempty"`
	DiskBytes int64  `json:"disk_bytes,omitempty"`
	Start     bool   `json:"start,omitempty"`
	// NAT says whether the VM may reach outside networks; absent takes
	// the daemon's network.nat.
	NAT *bool `json:"nat,omitempty"`
	// NetGroup: VMs in the same group may reach each other.
	NetGroup string `json:"net_group,omitempty"`
	// Labels are key/value pairs kept with the VM for the client (e.g.
	// banger-vk's Pod UID); they mean nothing to the daemon.
	Labels map[string]string `json:"labels,omitempty"`
	// FromSnapshot makes the VM from a snapshot (name or id): it resumes
	// the saved guest instead of booting, on copy-on-write clones of the
	// snapshot's disks, and is running when the call returns. Image,
	// vcpus, memory_mib and disk_bytes are the snapshot's: give none, or
	// the same.
	FromSnapshot string `json:"from_snapshot,omitempty"`
	// Warm (vm run) resumes the VM from the warm snapshot of its image
	// and shape when there is a ready one, instead of booting it; after a
	// boot, the warm snapshot is made in the background. It implies
	// start, and is ignored when vm.warm_start is false.
	Warm bool `json:"warm,omitempty"`
}

// Image is a registered root filesystem plus the kernel it boots with.
type Image struct {
	ID         string    `json:"id"`
	Name       string    `json:"name"`
	RootFS     string    `json:"rootfs"`
	RootFSSize int64     `json:"rootfs_size"`
	Kernel     string    `json:"kernel"`
	Initrd     string    `json:"initrd,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	// State is ImageReady or ImagePulled. Source (the normalised
	// reference), Digest (the manifest's), Config and Layers (digests,
	// oldest first) describe a pulled image.
	State  string       `json:"state"`
	Source string       `json:"source,omitempty"`
	Digest string       `json:"digest,omitempty"`
	Config *ImageConfig `json:"config,omitempty"`
	Layers []string     `json:"layers,omitempty"`
	// Identity is how the image's VMs get their identity: ImageIdentityDisk
	// (a per-VM identity disk read at boot) or ImageIdentityDebugfs
	// (written into each VM's root disk at create and start).
	Identity string `json:"identity,omitempty"`
}

// How an image's VMs get their identity (Image.Identity).
const (
	ImageIdentityDisk    = "disk"
	ImageIdentityDebugfs = "debugfs"
)

// RegisterImageRequest is the body of POST /v1/images.
type RegisterImageRequest struct {
	Name   string `json:"name"`
	RootFS string `json:"rootfs"`
	Kernel string `json:"kernel"`
	Initrd string `json:"initrd,omitempty"`
}

// Operation is a unit of long-running work (create, start, stop, delete).
type Operation struct {
	ID         string    `json:"id"`
	Kind       string    `json:"kind"`
	Target     string    `json:"target"`
	State      string    `json:"state"`
	Step       string    `json:"step,omitempty"`
	Error      string    `json:"error,omitempty"`
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
}

// Event types in a progress stream or on /v1/events.
const (
	EventStep   = "step"   // a step of an operation started
	EventResult = "result" // the operation finished; Result holds its value
	EventError  = "error"  // the operation failed; Error holds why
	EventVM     = "vm"     // a VM changed state (on /v1/events)
)

// Units of an Event's Current and TotalUnits.
const (
	UnitBytes    = "bytes"    // a download or copy
	UnitObjects  = "objects"  // kbuild targets of a kernel compile
	UnitPackages = "packages" // Debian packages of an image bootstrap
)

// Event is one line of an NDJSON stream.
type Event struct {
	Type   string    `json:"type"`
	Time   time.Time `json:"time"`
	OpID   string    `json:"op_id,omitempty"`
	Kind   string    `json:"kind,omitempty"`   // operation kind, e.g. "vm.create"
	Target string    `json:"target,omitempty"` // VM name
	Step   string    `json:"step,omitempty"`
	Index  int       `json:"index,omitempty"` // 1-based step number
	Total  int       `json:"total,omitempty"` // steps in the plan
	State  string    `json:"state,omitempty"` // VM state for EventVM
	// Detail is a line of output or a note about the current step (e.g. a
	// compiler line during a kernel build); Fraction, when non-zero, is how
	// far the step has got, from 0 to 1.
	Detail   string  `json:"detail,omitempty"`
	Fraction float64 `json:"fraction,omitempty"`
	// Current of TotalUnits, when TotalUnits is non-zero, counts how far
	// the step (or Bar) has got in Unit: bytes of a download, objects of
	// a kernel compile, packages of an image bootstrap (see the Unit
	// constants). Fraction stays the measure of the step's progress: a
	// TotalUnits may be an estimate (a compile's objects, from the last
	// build) or grow as work is announced (an image bootstrap learns its
	// remaining packages part-way).
	Current    int64  `json:"current,omitempty"`
	TotalUnits int64  `json:"total_units,omitempty"`
	Unit       string `json:"unit,omitempty"`
	// Bar, when set, names one of several items the step works on at once
	// (e.g. one layer of an image pull, by digest): its Detail, Fraction
	// and counts are that item's, and a client draws a bar per Bar. Events
	// without Bar are the operation's own progress.
	Bar   string `json:"bar,omitempty"`
	VM    *VM    `json:"vm,omitempty"`
	Error *Error `json:"error,omitempty"`
	// Result is the value of a finished operation that is not a VM (an
	// image, a kernel), as JSON.
	Result json.RawMessage `json:"result,omitempty"`
}

// ErrorBody is the JSON body of every error response.
type ErrorBody struct {
	Error Error `json:"error"`
}

// Error is the one error shape of the API. Code is one of errdefs.Kinds.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	OpID    string `json:"op_id,omitempty"`
}

// SystemInfo is returned by GET /v1/system/info.
type SystemInfo struct {
	Version string `json:"version"`
	PID     int    `json:"pid"`
	Driver  string `json:"driver"`
	// DiskStrategy is how VM root disks are cloned from images (reflink,
	// loop-xfs, qcow2, sparse) and DiskStrategyWhy how it was chosen.
	DiskStrategy    string `json:"disk_strategy"`
	DiskStrategyWhy string `json:"disk_strategy_why"`
	StateDir        string `json:"state_dir"`
	RuntimeDir      string `json:"runtime_dir"`
	Socket          string `json:"socket"`
	ConfigFile      string `json:"config_file"`
	// DefaultImage is the image VMs boot when a request names none.
	DefaultImage string `json:"default_image"`
	VMs          int    `json:"vms"`
	Running      int    `json:"running"`
	Images       int    `json:"images"`
	// Network is absent when network.enabled is false.
	Network *NetworkInfo `json:"network,omitempty"`
	// StartedAt is when this daemon started, for its uptime.
	StartedAt time.Time `json:"started_at"`
}

// ShutdownReply is returned by POST /v1/system/shutdown: the daemon that
// is about to exit.
type ShutdownReply struct {
	PID int `json:"pid"`
}

// NetworkInfo is the state of the host side of VM networking.
type NetworkInfo struct {
	Bridge      string `json:"bridge"`
	Gateway     string `json:"gateway"` // bridge address with prefix, e.g. 10.77.0.1/24
	Attached    int    `json:"attached"`
	SparesReady int    `json:"spares_ready"` // taps in the warm pool
	PoolHits    int    `json:"pool_hits"`
	PoolMisses  int    `json:"pool_misses"`
	// Firewall: banger's nftables tables.
	FirewallPresent bool     `json:"firewall_present"`
	FirewallRules   int      `json:"firewall_rules"`
	NATVMs          int      `json:"nat_vms"`
	DNSDomain       string   `json:"dns_domain"`
	DNSListeners    []string `json:"dns_listeners"`
	// Error is why the host network could not be set up, if it could not.
	Error string `json:"error,omitempty"`
}

// AgentInfo is what a running guest's agent reports
// (POST /v1/vms/{ref}/wait).
type AgentInfo struct {
	Version  string    `json:"version"`
	Hostname string    `json:"hostname"`
	BootTime time.Time `json:"boot_time"`
	Systemd  bool      `json:"systemd"`
}

// Check statuses of a doctor report.
const (
	CheckPass = "PASS"
	CheckWarn = "WARN"
	CheckFail = "FAIL"
)

// Check is one row of a doctor report. Fix is a command or action that
// resolves a FAIL or WARN.
type Check struct {
	Name   string `json:"name"`
	Status string `json:"status"`
	Detail string `json:"detail"`
	Fix    string `json:"fix,omitempty"`
}

// DoctorReport is returned by GET /v1/system/doctor.
type DoctorReport struct {
	Checks []Check `json:"checks"`
}

// FileStat is what a path in a running guest is, symlinks followed
// (GET /v1/vms/{ref}/stat?path=P).
type FileStat struct {
	Path    string    `json:"path"`
	Dir     bool      `json:"dir"`
	Mode    uint32    `json:"mode"` // Go fs.FileMode bits
	Size    int64     `json:"size"`
	ModTime time.Time `json:"mod_time"`
}

// Copy routes: PUT /v1/vms/{ref}/files?path=DIR takes a tar body
// (Content-Type TarType) and extracts it under DIR in the guest; GET
// /v1/vms/{ref}/files?path=P answers a tar of P whose entries start with
// P's base name. An error after a download started is in the
// FilesErrorTrailer trailer.
const (
	TarType           = "application/x-tar"
	FilesErrorTrailer = "Banger-Error"
)
