package api

import "time"

// Kernel sources.
const (
	KernelBuilt    = "built"
	KernelImported = "imported"
)

// Kernel is a guest kernel in the kernel store.
type Kernel struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Vmlinux   string    `json:"vmlinux"`
	BzImage   string    `json:"bzimage,omitempty"`
	Initrd    string    `json:"initrd,omitempty"`
	Version   string    `json:"version,omitempty"`
	Source    string    `json:"source"` // KernelBuilt or KernelImported
	SHA256    string    `json:"sha256"` // of the vmlinux
	Size      int64     `json:"size"`   // of the vmlinux, in bytes
	CreatedAt time.Time `json:"created_at"`
}

// ImportKernelRequest is the body of POST /v1/kernels: copy a vmlinux or a
// bzImage (unpacked to a vmlinux) and an optional initrd into the kernel
// store. Paths are absolute paths on the daemon's host. An empty name is
// derived from the file name.
type ImportKernelRequest struct {
	Name   string `json:"name,omitempty"`
	Path   string `json:"path"`
	Initrd string `json:"initrd,omitempty"`
}

// BuildKernelRequest is the body of POST /v1/kernels/build: compile the
// banger kernel from a linux-source tarball. Empty fields take defaults:
// name "default", the newest /usr/src/linux-source-*.tar.xz, one job per
// CPU.
type BuildKernelRequest struct {
	Name   string `json:"name,omitempty"`
	Source string `json:"source,omitempty"`
	Jobs   int    `json:"jobs,omitempty"`
}
