package cow

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"banger/internal/errdefs"
	"banger/internal/mountinfo"
)

// Mounter mounts banger's XFS backing file. Local does it in-process (the
// daemon runs as root).
type Mounter interface {
	// MountXFS attaches file to a free loop device (detached again when
	// unmounted) and mounts it on dir as XFS, nosuid, nodev, noexec, with
	// discard.
	MountXFS(file, dir string) error
	// UnmountXFS unmounts dir, which must be file's mount.
	UnmountXFS(file, dir string) error
}

// Local mounts in-process; it needs root.
type Local struct{}

// loopFlags: the loop device goes away when its mount does.
const loopFlags = unix.LO_FLAGS_AUTOCLEAR

func (Local) MountXFS(file, dir string) error {
	dev, err := attachLoop(file)
	if err != nil {
		return err
	}
	defer dev.Close()
	if err := unix.Mount(dev.Name(), dir, "xfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "discard"); err != nil {
		return fmt.Errorf("mount %s (%s) on %s as xfs: %w", file, dev.Name(), dir, err)
	}
	return nil
}

func (Local) UnmountXFS(file, dir string) error {
	m, ok, err := findMount(dir)
	if err != nil {
		return err
	}
	if !ok {
		return nil
	}
	if err := checkMount(m, file, dir); err != nil {
		return err
	}
	if err := unix.Unmount(dir, 0); err != nil {
		if errors.Is(err, unix.EBUSY) {
			return errdefs.FailedPreconditionf("unmount %s: it is in use (running VMs use their disks there): stop them first", dir)
		}
		return fmt.Errorf("unmount %s: %w", dir, err)
	}
	return nil
}

// attachLoop attaches file to a free loop device with autoclear and
// returns the open device: it is detached when the last user (the
// caller's handle, then the mount) lets go.
func attachLoop(file string) (*os.File, error) {
	back, err := os.OpenFile(file, os.O_RDWR|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s for its loop device: %w", file, err)
	}
	defer back.Close()
	return attachLoopFile(back, file, loopFlags)
}

// attachLoopFile is attachLoop of an open file, recorded as name, with
// the loop flags flags.
func attachLoopFile(back *os.File, file string, flags uint32) (*os.File, error) {
	ctl, err := os.OpenFile("/dev/loop-control", os.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, errdefs.FailedPreconditionf("open /dev/loop-control (%w): load the loop module (modprobe loop) or use vm.disk_strategy = \"sparse\"", err)
	}
	defer ctl.Close()
	for attempt := 0; ; attempt++ {
		n, err := unix.IoctlRetInt(int(ctl.Fd()), unix.LOOP_CTL_GET_FREE)
		if err != nil {
			return nil, fmt.Errorf("find a free loop device: %w", err)
		}
		name := "/dev/loop" + strconv.Itoa(n)
		dev, err := os.OpenFile(name, os.O_RDWR|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", name, err)
		}
		cfg := unix.LoopConfig{Fd: uint32(back.Fd())}
		cfg.Info.Flags = flags
		copy(cfg.Info.File_name[:], file)
		err = unix.IoctlLoopConfigure(int(dev.Fd()), &cfg)
		if err == nil {
			return dev, nil
		}
		dev.Close()
		// Another process took the device between GET_FREE and
		// CONFIGURE: ask again.
		if errors.Is(err, unix.EBUSY) && attempt < 20 {
			time.Sleep(10 * time.Millisecond)
			continue
		}
		return nil, fmt.Errorf("attach %s to %s: %w", file, name, err)
	}
}

// findMount returns the mount whose mount point is dir: the last one, the
// one that is visible.
func findMount(dir string) (mountinfo.Mount, bool, error) {
	ms, err := mountinfo.Read()
	if err != nil {
		return mountinfo.Mount{}, false, err
	}
	var found mountinfo.Mount
	ok := false
	for _, m := range ms {
		if m.Dir == dir {
			found, ok = m, true
		}
	}
	return found, ok, nil
}

// checkMount verifies that m, the mount on dir, is file over a loop device.
func checkMount(m mountinfo.Mount, file, dir string) error {
	if m.FSType != "xfs" {
		return errdefs.FailedPreconditionf("%s is mounted, but as %s, not banger's XFS file %s: unmount it", dir, m.FSType, file)
	}
	back, err := loopBackingFile(m.Source)
	if err != nil {
		return errdefs.FailedPreconditionf("%s is mounted from %s, which is not banger's XFS file %s (%v): unmount it", dir, m.Source, file, err)
	}
	if back != file {
		return errdefs.FailedPreconditionf("%s is mounted from %s (backed by %s), not banger's XFS file %s: unmount it", dir, m.Source, back, file)
	}
	return nil
}

// loopsBacking lists the loop devices whose backing file is file.
func loopsBacking(file string) []string {
	matches, _ := filepath.Glob("/sys/block/loop*/loop/backing_file")
	var out []string
	for _, m := range matches {
		b, err := os.ReadFile(m)
		if err == nil && strings.TrimSpace(string(b)) == file {
			out = append(out, "/dev/"+filepath.Base(filepath.Dir(filepath.Dir(m))))
		}
	}
	return out
}

// loopBackingFile returns the file behind the loop device dev ("/dev/loop3").
func loopBackingFile(dev string) (string, error) {
	name := filepath.Base(dev)
	if !strings.HasPrefix(dev, "/dev/loop") || name == "loop-control" {
		return "", fmt.Errorf("%s is not a loop device", dev)
	}
	b, err := os.ReadFile(filepath.Join("/sys/block", name, "loop", "backing_file"))
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}
