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
}

// SnapshotVMRequest is the body of POST /v1/vms/{ref}/snapshot. An empty
// name gets a generated one.
type SnapshotVMRequest struct {
	Name string `json:"name,omitempty"`
}
