package api

import "time"

// Kernel sources.
const (
	KernelBuilt    = "built"
	KernelImported = "imported"
	KernelDistro   = "distro"
)

// Kernel is a guest kernel in the kernel store.
type Kernel struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Vmlinux   string    `json:"vmlinux"`
	BzImage   string    `json:"bzimage,omitempty"`
	Initrd    string    `json:"initrd,omitempty"`
	Version   string    `json:"version,omitempty"`
	Source    string    `json:"source"` // KernelBuilt, KernelImported or KernelDistro
	SHA256    string    `json:"sha256"` // of the vmlinux
	Size      int64     `json:"size"`   // of the vmlinux, in bytes
	CreatedAt time.Time `json:"created_at"`
	// Origin says where the kernel came from, for people: "distro
	// package linux-image-6.1.0-57-cloud-amd64 6.1.192-3 (downloaded)",
	// "built from linux-source-6.1.tar.xz", "imported from /boot/vmlinuz".
	Origin string `json:"origin,omitempty"`
	// Discovery is how the kernel finds virtio-mmio devices: "cmdline"
	// or "acpi" (the VMM describes them in ACPI tables).
	Discovery string `json:"discovery,omitempty"`
}

// FetchKernelRequest is the body of POST /v1/kernels/fetch: take the
// kernel of a distribution package (installed, or downloaded from the
// configured apt mirror) with the initramfs banger builds for it. Empty
// fields take defaults: name "default", package linux-image-cloud-amd64.
type FetchKernelRequest struct {
	Name    string `json:"name,omitempty"`
	Package string `json:"package,omitempty"`
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
