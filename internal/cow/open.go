package cow

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

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
	// DM makes the device-mapper devices of the dm strategy; nil means
	// dm is unavailable (an unprivileged daemon without a root helper).
	DM DMDevices
	// DMPrefix replaces DMPrefix in device names when not empty (tests
	// keep their devices apart); it must start with DMPrefix.
	DMPrefix string
}

// minXFSSize is the smallest XFS file banger makes (mkfs.xfs refuses
// filesystems below 300 MiB).
const minXFSSize = 512 << 20

// Open picks the strategy for opts.StateDir and sets it up. why says how
// it was chosen, for the log, doctor and system info.
//
// auto picks reflink when the state directory's filesystem clones files;
// otherwise loop-XFS when banger's XFS file exists (made by an earlier
// daemon), remounting it when it is not mounted, or when the Mounter is an
// AutoMounter that agrees (the root helper started with --cow-dir), making
// the file; otherwise a device-mapper snapshot (dm) when the host has
// device-mapper with the snapshot target; otherwise qcow2 overlays when
// the driver is qemu; otherwise a sparse copy. why then says why loop-XFS
// was not chosen. A root daemon makes the file only when asked
// ("loop-xfs"): it adds a persistent mount to the host.
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
	case NameDM:
		d, err := openDM(opts)
		if err != nil {
			return nil, "", err
		}
		return d, "set by vm.disk_strategy; VM disks are device-mapper snapshots of their image", nil
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
	noClone := fmt.Sprintf("%s (%s) cannot clone files", opts.StateDir, fsName(opts.StateDir))
	// Why not loop-xfs, for the reason of the fallback.
	notLoop := "set vm.disk_strategy = \"loop-xfs\" for O(1) clones on a banger-managed XFS file"
	if am, ok := opts.Mounter.(AutoMounter); ok {
		if err := am.MountsOnAuto(xfsPath, filepath.Join(opts.StateDir, xfsMount)); err != nil {
			notLoop = "loop-xfs is not available (" + err.Error() + ")"
		} else {
			l, err := openLoop(ctx, opts, true)
			if err == nil {
				return l, noClone + "; the root helper mounts banger's XFS file " + l.file + " on " + l.mnt + " (loop-xfs)", nil
			}
			removeUnmounted(opts.StateDir)
			notLoop = "loop-xfs failed (" + err.Error() + ")"
		}
	}
	dmErr := dmUsable(opts)
	if dmErr == nil {
		d, err := openDM(opts)
		if err != nil {
			return nil, "", err
		}
		return d, noClone + "; the host has device-mapper: VM disks are snapshots of their image; " + notLoop, nil
	}
	notLoop += "; device-mapper is unusable (" + dmErr.Error() + ")"
	if opts.Driver == DriverQEMU {
		return qcow2Overlays{}, noClone + " and the driver is qemu: qcow2 overlays of the images; " + notLoop, nil
	}
	return sparse{}, noClone + ": sparse copies; " + notLoop, nil
}

// AutoMounter is a Mounter that says, mounting nothing, whether auto may
// make banger's XFS file and have it mounted: the root helper started
// with --cow-dir set to the state directory (the admin's consent to the
// mount). A root daemon mounts by itself (Local) and makes the file only
// when asked (vm.disk_strategy = "loop-xfs").
type AutoMounter interface {
	Mounter
	// MountsOnAuto is nil when file would be mounted on dir.
	MountsOnAuto(file, dir string) error
}

// removeUnmounted removes the XFS file auto just made, and its mount
// point, after the mount failed, unless a loop device holds the file: a
// file left behind would make every later start insist on it.
func removeUnmounted(stateDir string) {
	file := filepath.Join(stateDir, xfsFile)
	if len(loopsBacking(file)) > 0 {
		return
	}
	_ = os.Remove(file)
	_ = os.Remove(filepath.Join(stateDir, xfsMount))
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

func openDM(opts Options) (*dmSnap, error) {
	if err := dmUsable(opts); err != nil {
		return nil, fmt.Errorf("vm.disk_strategy is \"dm\": %w", err)
	}
	prefix := opts.DMPrefix
	if prefix == "" {
		prefix = DMPrefix
	}
	if !strings.HasPrefix(prefix, DMPrefix) {
		return nil, errdefs.InvalidArgumentf("device name prefix %q must start with %s", prefix, DMPrefix)
	}
	d := &dmSnap{stateDir: opts.StateDir, uid: opts.UID, prefix: prefix, devices: opts.DM}
	if err := d.pruneOrigins(); err != nil {
		return nil, fmt.Errorf("drop unused origins in %s: %w", filepath.Join(opts.StateDir, dmDir), err)
	}
	return d, nil
}

// dmUsable says why opts.DM cannot make devices, or nil when it can: it
// lists the devices, which checks device-mapper and its snapshot target
// (through the root helper for an unprivileged daemon).
func dmUsable(opts Options) error {
	if opts.DM == nil {
		return errdefs.FailedPreconditionf("making device-mapper devices needs root: run bangerd as root or with the root helper")
	}
	if _, err := opts.DM.ListDM(); err != nil {
		return err
	}
	return nil
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
