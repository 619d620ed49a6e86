package cow

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"golang.org/x/sys/unix"

	"banger/internal/errdefs"
)

// Options choose and set up a strategy.
type Options struct {
	StateDir string
	UID      int    // owner of the state directory (and of the XFS file)
	Force    string // one of Names; "" means auto
	// Driver is the VMM driver new VMs boot with ("qemu",
	// "firecracker"): qcow2 overlays are for qemu only.
	Driver string
	// Mounter mounts the XFS file; nil means loop-XFS is unavailable
	// (an unprivileged daemon without a root helper that mounts).
	Mounter Mounter
	// XFSSize is the size of a new XFS file; zero means the free space of
	// the state directory's filesystem (the file is sparse, and it grows
	// only as VMs write).
	XFSSize int64
}

// minXFSSize is the smallest XFS file banger makes (mkfs.xfs refuses
// filesystems below 300 MiB).
const minXFSSize = 512 << 20

// Open picks the strategy for opts.StateDir and sets it up. why says how
// it was chosen, for the log, doctor and system info.
//
// auto picks reflink when the state directory's filesystem clones files;
// otherwise loop-XFS when a previous daemon (configured with "loop-xfs")
// made banger's XFS file, remounting it when it is not mounted; otherwise
// qcow2 overlays when the driver is qemu; otherwise a sparse copy. Making the XFS file is asked for, not automatic: it adds
// a persistent mount to the host.
func Open(ctx context.Context, opts Options) (s Strategy, why string, err error) {
	force := opts.Force
	if force == "" {
		force = NameAuto
	}
	if !slices.Contains(Names, force) {
		return nil, "", errdefs.InvalidArgumentf("vm.disk_strategy %q is not one of %v", force, Names)
	}
	xfsPath := filepath.Join(opts.StateDir, xfsFile)
	switch force {
	case NameSparse:
		return sparse{}, "set by vm.disk_strategy", nil
	case NameReflink:
		if err := probeReflink(ctx, opts.StateDir); err != nil {
			return nil, "", errdefs.FailedPreconditionf("vm.disk_strategy is \"reflink\" but %s cannot clone files (%v): put the state directory on XFS or btrfs, or use \"loop-xfs\" or \"auto\"", opts.StateDir, err)
		}
		return reflink{}, "set by vm.disk_strategy; " + opts.StateDir + " clones files", nil
	case NameQCOW2:
		if opts.Driver != DriverQEMU {
			return nil, "", errdefs.FailedPreconditionf("vm.disk_strategy is \"qcow2\" but VMs boot with %s, which reads raw disks only: set vmm.driver = \"qemu\", or use another vm.disk_strategy", driverName(opts.Driver))
		}
		return qcow2Overlays{}, "set by vm.disk_strategy; qemu reads qcow2 overlays of the images", nil
	case NameLoopXFS:
		l, err := openLoop(ctx, opts, true)
		if err != nil {
			return nil, "", err
		}
		return l, "set by vm.disk_strategy; " + l.file + " mounted on " + l.mnt, nil
	}
	if err := probeReflink(ctx, opts.StateDir); err == nil {
		return reflink{}, opts.StateDir + " clones files (reflink)", nil
	}
	if _, err := os.Lstat(xfsPath); err == nil {
		l, err := openLoop(ctx, opts, false)
		if err != nil {
			return nil, "", fmt.Errorf("VM disks live in %s: %w", xfsPath, err)
		}
		return l, "banger's XFS file " + l.file + " is mounted on " + l.mnt, nil
	}
	if opts.Driver == DriverQEMU {
		return qcow2Overlays{}, fmt.Sprintf("%s (%s) cannot clone files and the driver is qemu: qcow2 overlays of the images (vm.disk_strategy = \"loop-xfs\" makes O(1) clones on a banger-managed XFS file)", opts.StateDir, fsName(opts.StateDir)), nil
	}
	return sparse{}, fmt.Sprintf("%s (%s) cannot clone files: set vm.disk_strategy = \"loop-xfs\" for O(1) clones on a banger-managed XFS file", opts.StateDir, fsName(opts.StateDir)), nil
}

// DriverQEMU is the name of the one VMM driver that reads qcow2.
const DriverQEMU = "qemu"

func driverName(d string) string {
	if d == "" {
		return "an unnamed driver"
	}
	return d
}

func openLoop(ctx context.Context, opts Options, create bool) (*loopXFS, error) {
	if opts.Mounter == nil {
		return nil, errdefs.FailedPreconditionf("loop-xfs needs root to mount %s: run bangerd as root, or use vm.disk_strategy = \"sparse\"", filepath.Join(opts.StateDir, xfsFile))
	}
	size := opts.XFSSize
	if size == 0 {
		var st unix.Statfs_t
		if err := unix.Statfs(opts.StateDir, &st); err != nil {
			return nil, fmt.Errorf("free space of %s: %w", opts.StateDir, err)
		}
		size = int64(st.Bavail) * st.Bsize
		size -= size % (1 << 20)
	}
	if size < minXFSSize {
		return nil, errdefs.FailedPreconditionf("%s has %d MiB free, too little for banger's XFS file (at least %d MiB): free some space or use vm.disk_strategy = \"sparse\"", opts.StateDir, size>>20, minXFSSize>>20)
	}
	return openLoopXFS(ctx, opts.StateDir, opts.UID, size, create, opts.Mounter)
}

// fsName names dir's filesystem type for messages.
func fsName(dir string) string {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return "unknown filesystem"
	}
	switch st.Type {
	case unix.EXT4_SUPER_MAGIC:
		return "ext4"
	case unix.XFS_SUPER_MAGIC:
		return "xfs"
	case unix.BTRFS_SUPER_MAGIC:
		return "btrfs"
	case unix.TMPFS_MAGIC:
		return "tmpfs"
	case unix.OVERLAYFS_SUPER_MAGIC:
		return "overlayfs"
	}
	return fmt.Sprintf("filesystem 0x%x", st.Type)
}
