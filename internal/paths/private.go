package paths

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"

	"banger/internal/errdefs"
)

// privateMode is the only mode a runtime directory may have.
const privateMode = 0o700

// EnsurePrivateDir makes dir a directory that only uid can enter: mode
// 0700, owned by uid. A missing dir is created (its parent is not) and
// chowned to uid. An existing one is checked: a symlink (even to a good
// directory), a non-directory, or a directory owned by another user is
// refused with an error that says how to fix it; group and other permission
// bits are removed. The entry is examined with Lstat, re-examined after
// creating it, and then fixed through a descriptor opened with O_NOFOLLOW
// that must be the same inode, so a symlink swapped in meanwhile is caught
// rather than followed.
func EnsurePrivateDir(dir string, uid int) error {
	if !filepath.IsAbs(dir) {
		return errdefs.InvalidArgumentf("runtime directory %q is not an absolute path", dir)
	}
	fi, err := os.Lstat(dir)
	created := false
	if errors.Is(err, fs.ErrNotExist) {
		switch err := os.Mkdir(dir, privateMode); {
		case err == nil:
			created = true
		case errors.Is(err, fs.ErrExist):
			// Someone else created it first: check theirs like any other.
		default:
			return errdefs.FailedPreconditionf("create runtime directory: %w: check that %s exists and is writable", err, filepath.Dir(dir))
		}
		fi, err = os.Lstat(dir)
	}
	if err != nil {
		return errdefs.FailedPreconditionf("check runtime directory: %w", err)
	}
	if err := checkEntry(dir, fi); err != nil {
		return err
	}

	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
			return replaced(dir)
		}
		return errdefs.FailedPreconditionf("open runtime directory %s: %w", dir, err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return errdefs.FailedPreconditionf("check runtime directory %s: %w", dir, err)
	}
	if lst, ok := fi.Sys().(*syscall.Stat_t); !ok || lst.Dev != st.Dev || lst.Ino != st.Ino {
		return replaced(dir)
	}

	if created && int(st.Uid) != uid {
		if err := unix.Fchown(fd, uid, -1); err != nil {
			return errdefs.FailedPreconditionf("give runtime directory %s to uid %d: %w: run banger as uid %d or as root", dir, uid, err, uid)
		}
		st.Uid = uint32(uid)
	}
	if int(st.Uid) != uid {
		return errdefs.FailedPreconditionf("runtime directory %s is owned by uid %d, not %d: remove it (%srm -rf %s) and start banger again", dir, st.Uid, uid, sudoFor(st.Uid), dir)
	}
	if st.Mode&0o7777 != privateMode {
		if err := unix.Fchmod(fd, privateMode); err != nil {
			return errdefs.FailedPreconditionf("make runtime directory %s private: %w: run chmod 700 %s", dir, err, dir)
		}
	}
	return nil
}

// checkEntry refuses an entry found by Lstat that is not a real directory.
func checkEntry(dir string, fi fs.FileInfo) error {
	var owner uint32
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		owner = st.Uid
	}
	mode := fi.Mode()
	if mode&fs.ModeSymlink != 0 {
		target, err := os.Readlink(dir)
		if err != nil {
			target = "an unreadable target"
		}
		return errdefs.FailedPreconditionf("runtime directory %s is a symlink to %s, which banger refuses to follow: remove the link (%srm %s) and start banger again", dir, target, sudoFor(owner), dir)
	}
	if !mode.IsDir() {
		return errdefs.FailedPreconditionf("runtime directory %s is %s, not a directory: remove it (%srm %s) and start banger again", dir, describe(mode), sudoFor(owner), dir)
	}
	return nil
}

// replaced reports a directory that changed between two checks.
func replaced(dir string) error {
	return errdefs.FailedPreconditionf("runtime directory %s was replaced while banger was checking it: remove it (rm -rf %s) and start banger again", dir, dir)
}

// sudoFor returns "sudo " when removing something owned by owner needs more
// privilege than this process has, for the hints in error messages.
func sudoFor(owner uint32) string {
	if os.Geteuid() == 0 || int(owner) == os.Geteuid() {
		return ""
	}
	return "sudo "
}

// describe names an existing directory entry that is not a directory.
func describe(mode fs.FileMode) string {
	switch {
	case mode&fs.ModeSocket != 0:
		return "a socket"
	case mode&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case mode&fs.ModeDevice != 0:
		return "a device"
	default:
		return "a file"
	}
}
