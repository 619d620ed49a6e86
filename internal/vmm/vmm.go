// Package vmm defines the contract between the VM lifecycle and the virtual
// machine monitors banger can drive (Firecracker today, QEMU later): the
// machine specification, the handle of a running VMM process, and the Driver
// interface every implementation satisfies. It holds no implementation and
// must not import any driver; the shared conformance suite lives in
// vmm/vmmtest.
package vmm

import (
	"context"
	"errors"
	"net"
)

// Spec is everything a driver needs to launch and boot one VM. All paths are
// absolute. The VM lifecycle derives every path from the VM id and persists
// them before Launch is called, so a restarted daemon can find and tear down
// whatever a crashed one left behind.
type Spec struct {
	ID        string // banger VM id; also the VMM instance id
	VCPUs     int
	MemoryMiB int

	Kernel   string // uncompressed vmlinux (or bzImage where the VMM accepts it)
	Initrd   string // optional
	BootArgs string // kernel command line
	// ACPI: the kernel finds virtio-mmio devices in ACPI tables only (it
	// lacks CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES), so the VMM must describe
	// them there. Otherwise they are announced on the command line.
	ACPI bool
	// KernelHZ is the timer frequency (CONFIG_HZ) of a kernel fetched from
	// the distribution, 0 for any other. Where the VMM gives the guest
	// its TSC frequency (qemu under TCG), it also gives lpj= from it, so
	// secondary CPUs skip calibrating their delay loop.
	KernelHZ int

	RootDisk string // writable per-VM root filesystem image
	// RootDiskFormat is RootDisk's format: "" or DiskRaw, or DiskQCOW2
	// (an overlay whose raw backing file qemu opens read-only; only the
	// qemu driver reads it). The caller knows it: it is never probed
	// from the disk, which the guest writes.
	RootDiskFormat string
	WorkDisk       string // per-VM work disk, optional
	// IdentityDisk is the per-VM identity disk (package identdisk),
	// attached read-only after the other disks; optional.
	IdentityDisk string

	Tap string // host tap device; empty means no network interface
	MAC string // guest MAC for Tap, "aa:bb:cc:dd:ee:ff"

	// VsockPath is the host-side unix socket of the guest agent's channel:
	// Firecracker's vsock device (guest CID VsockCID), or the virtio-serial
	// port of drivers without vsock. Empty means no agent channel.
	VsockPath string
	VsockCID  uint32 // guest CID, >= 3 when VsockPath is set

	// Restore launches the VMM to load a snapshot (Driver.Restore)
	// instead of booting the kernel (Driver.Boot).
	Restore bool

	RuntimeDir  string // private 0700 directory for this VMM's sockets
	ConsoleLog  string // file receiving the guest's serial console
	VMMLog      string // file receiving the VMM's own log
	MetricsPath string // file receiving the VMM's metrics, optional
}

// Disk formats of Spec.RootDiskFormat.
const (
	DiskRaw   = "raw"
	DiskQCOW2 = "qcow2"
)

// Process identifies a launched VMM process. PID alone is not enough after a
// daemon restart because pids are reused; StartTime (clock ticks since boot,
// from /proc/<pid>/stat) pins the exact process.
type Process struct {
	PID       int    `json:"pid"`
	StartTime uint64 `json:"start_time"`
	APISocket string `json:"api_socket,omitempty"`
}

// BootSettings is implemented by a Driver whose configuration changes how
// its guests boot (the qemu driver's vmm.tcg_aslr). BootSettings returns them
// as one line; a warm snapshot records it in its key, so one made under
// other settings is not resumed.
type BootSettings interface {
	BootSettings() string
}

// Driver launches, boots and stops VMM processes. Implementations must make
// each method safe to retry and must never leave a process behind when
// Launch or Boot return an error.
type Driver interface {
	// Name is the driver's config name ("firecracker", "qemu").
	Name() string

	// Launch starts the VMM process for spec without booting the guest and
	// returns as soon as the process is ready to be configured. The process
	// must outlive the daemon: it is started in its own session with its
	// console going to spec.ConsoleLog, never to a pipe of the daemon.
	Launch(ctx context.Context, spec Spec) (Process, error)

	// Boot configures a launched VMM from spec and starts the guest.
	Boot(ctx context.Context, spec Spec, p Process) error

	// Shutdown asks the guest to power off and returns once the request has
	// been delivered; the caller waits for the process to exit and kills it
	// after a timeout. ErrNotRunning means the process is already gone.
	Shutdown(ctx context.Context, p Process) error

	// Pause stops the guest's vCPUs; memory, devices and the process stay.
	// Pausing a paused guest is a no-op. ErrNotRunning means the process
	// is gone.
	Pause(ctx context.Context, p Process) error

	// Resume lets a paused guest's vCPUs run again. Resuming a running
	// guest is a no-op. ErrNotRunning means the process is gone.
	Resume(ctx context.Context, p Process) error

	// Paused reports whether the booted guest of p is paused, as the VMM
	// itself says: a restarted daemon asks it to finish an interrupted
	// pause or resume. ErrNotRunning means the process is gone.
	Paused(ctx context.Context, p Process) (bool, error)

	// Snapshot saves the paused guest of p (vCPUs, devices, memory) to
	// files, which must not exist. The guest stays paused; an unpaused
	// guest is refused. The disks are not saved: the caller copies them
	// while the guest is paused.
	Snapshot(ctx context.Context, p Process, files SnapshotFiles) error

	// Restore loads the guest saved in files into p, launched from spec
	// with spec.Restore set, in place of Boot, with spec's disks behind
	// the saved block devices; no disk of the VM the guest was saved from
	// is opened, so a snapshot restores after that VM is gone. The guest
	// is left paused: Resume runs it.
	// Like Boot, the caller kills the process on error.
	Restore(ctx context.Context, spec Spec, p Process, files SnapshotFiles) error

	// Check reports whether the driver can run VMs on this host, with the
	// VMM version it found; doctor shows it.
	Check(ctx context.Context) (Info, error)

	// DialAgent opens a byte stream to the guest agent of a running VM
	// launched from spec, on the agent's port.
	DialAgent(ctx context.Context, spec Spec, port uint32) (net.Conn, error)
}

// SnapshotFiles name the files a paused guest is saved to.
type SnapshotFiles struct {
	// State holds the vCPU and device state; under qemu it is the whole
	// migration stream, guest memory included.
	State string
	// Memory holds guest memory for drivers that keep it apart
	// (Firecracker); others leave the file uncreated.
	Memory string
}

// AgentPort is the vsock port the guest agent listens on.
const AgentPort = 1024

// Info describes the VMM a driver found on the host.
type Info struct {
	Binary  string `json:"binary"`
	Version string `json:"version"`
}

// ErrNotRunning reports that the VMM process is no longer running.
var ErrNotRunning = errors.New("vmm process is not running")
