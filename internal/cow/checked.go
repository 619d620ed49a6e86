package cow

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"

	"banger/internal/errdefs"
)

// MountChecked mounts stateDir's XFS file (cow.xfs) on stateDir/cow for an
// unprivileged daemon running as uid: the root helper's side of loop-xfs.
// Nothing is trusted by path: the state directory, the file and the mount
// point are opened without following symlinks, checked on the open
// descriptors (owned by uid, not writable by others, the file a regular
// file with one link, the mount point a directory with nothing mounted on
// it), the loop device is attached to the open file and the mount made on
// the open directory, so nothing can be swapped in between the checks and
// the mount. It mounts nosuid, nodev, noexec.
func MountChecked(stateDir string, uid int) error {
	dir, err := openOwnedDir(stateDir, uid)
	if err != nil {
		return err
	}
	defer dir.Close()
	file, err := openAt(dir, xfsFile, unix.O_RDWR|unix.O_NOFOLLOW|unix.O_NONBLOCK)
	if err != nil {
		return err
	}
	defer file.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(file.Fd()), &st); err != nil {
		return fmt.Errorf("stat %s: %w", file.Name(), err)
	}
	switch {
	case st.Mode&unix.S_IFMT != unix.S_IFREG:
		return errdefs.FailedPreconditionf("%s is not a regular file: refusing to mount it", file.Name())
	case int(st.Uid) != uid:
		return errdefs.FailedPreconditionf("%s is owned by uid %d, not %d: refusing to mount it", file.Name(), st.Uid, uid)
	case st.Nlink != 1:
		return errdefs.FailedPreconditionf("%s has %d links: refusing to mount it", file.Name(), st.Nlink)
	case st.Mode&0o022 != 0:
		return errdefs.FailedPreconditionf("%s is writable by others: chmod 600 it", file.Name())
	}
	if loops := loopsBacking(file.Name()); len(loops) > 0 {
		return errdefs.FailedPreconditionf("%s is already attached to %v: it is mounted elsewhere", file.Name(), loops)
	}
	mnt, err := openAt(dir, xfsMount, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW)
	if err != nil {
		return err
	}
	defer mnt.Close()
	var ds, ms unix.Stat_t
	if err := unix.Fstat(int(dir.Fd()), &ds); err != nil {
		return err
	}
	if err := unix.Fstat(int(mnt.Fd()), &ms); err != nil {
		return err
	}
	switch {
	case int(ms.Uid) != uid:
		return errdefs.FailedPreconditionf("%s is owned by uid %d, not %d: refusing to mount on it", mnt.Name(), ms.Uid, uid)
	case ms.Dev != ds.Dev:
		return errdefs.FailedPreconditionf("something is already mounted on %s", mnt.Name())
	}
	dev, err := attachLoopFile(file, file.Name(), loopFlags)
	if err != nil {
		return err
	}
	defer dev.Close()
	target := "/proc/self/fd/" + strconv.Itoa(int(mnt.Fd()))
	if err := unix.Mount(dev.Name(), target, "xfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "discard"); err != nil {
		return fmt.Errorf("mount %s on %s: %w", file.Name(), mnt.Name(), err)
	}
	return nil
}

// CheckStateDir checks stateDir as MountChecked does (a directory, not a
// symlink, owned by uid and writable by it alone) and mounts nothing: the
// root helper's answer to a daemon asking whether it would mount there.
func CheckStateDir(stateDir string, uid int) error {
	dir, err := openOwnedDir(stateDir, uid)
	if err != nil {
		return err
	}
	return dir.Close()
}

// UnmountChecked unmounts stateDir/cow for uid's daemon, only when what is
// mounted there is stateDir's own XFS file over a loop device.
func UnmountChecked(stateDir string, uid int) error {
	dir, err := openOwnedDir(stateDir, uid)
	if err != nil {
		return err
	}
	defer dir.Close()
	mnt, err := openAt(dir, xfsMount, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer mnt.Close()
	var ds, ms unix.Stat_t
	if err := unix.Fstat(int(dir.Fd()), &ds); err != nil {
		return err
	}
	if err := unix.Fstat(int(mnt.Fd()), &ms); err != nil {
		return err
	}
	if ms.Dev == ds.Dev {
		return nil // nothing mounted
	}
	file := filepath.Join(stateDir, xfsFile)
	ok := false
	for _, l := range loopsBacking(file) {
		var ls unix.Stat_t
		if unix.Stat(l, &ls) == nil && ls.Rdev == ms.Dev {
			ok = true
		}
	}
	if !ok {
		return errdefs.FailedPreconditionf("what is mounted on %s is not %s: refusing to unmount it", mnt.Name(), file)
	}
	// An open descriptor of the mount's root keeps it busy: let go of
	// it and unmount the entry in the directory still held open. Only
	// this helper mounts there, and a mount point cannot be renamed.
	name := mnt.Name()
	mnt.Close()
	target := "/proc/self/fd/" + strconv.Itoa(int(dir.Fd())) + "/" + xfsMount
	if err := unix.Unmount(target, unix.UMOUNT_NOFOLLOW); err != nil {
		if errors.Is(err, unix.EBUSY) {
			return errdefs.FailedPreconditionf("unmount %s: it is in use (running VMs use their disks there): stop them first", name)
		}
		return fmt.Errorf("unmount %s: %w", name, err)
	}
	return nil
}

// openOwnedDir opens dir (not a symlink) and checks that uid owns it and
// that others cannot write it.
func openOwnedDir(dir string, uid int) (*os.File, error) {
	if !filepath.IsAbs(dir) || filepath.Clean(dir) != dir {
		return nil, errdefs.InvalidArgumentf("state directory %q is not an absolute, clean path", dir)
	}
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, errdefs.FailedPreconditionf("open state directory %s: %w", dir, err)
	}
	f := os.NewFile(uintptr(fd), dir)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		f.Close()
		return nil, err
	}
	if int(st.Uid) != uid || st.Mode&0o022 != 0 {
		f.Close()
		return nil, errdefs.FailedPreconditionf("state directory %s must belong to uid %d and be writable by it alone (owner %d, mode %o)", dir, uid, st.Uid, st.Mode&0o777)
	}
	return f, nil
}

// openAt opens name in dir with flags (plus O_CLOEXEC).
func openAt(dir *os.File, name string, flags int) (*os.File, error) {
	fd, err := unix.Openat(int(dir.Fd()), name, flags|unix.O_CLOEXEC, 0)
	path := filepath.Join(dir.Name(), name)
	if err != nil {
		if errors.Is(err, unix.ELOOP) {
			return nil, errdefs.FailedPreconditionf("%s is a symlink: refusing it", path)
		}
		if errors.Is(err, unix.ENOENT) {
			return nil, fmt.Errorf("open %s: %w", path, os.ErrNotExist)
		}
		return nil, errdefs.FailedPreconditionf("open %s: %w", path, err)
	}
	return os.NewFile(uintptr(fd), path), nil
}
