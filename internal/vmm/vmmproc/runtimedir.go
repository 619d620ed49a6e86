package vmmproc

import (
	"errors"
	"io/fs"
	"os"
	"syscall"

	"banger/internal/errdefs"
)

// CheckRuntimeDir checks that dir, the directory a VMM's sockets go in,
// exists and is private: a real directory (not a symlink), owned by this
// process's effective uid, with no group or other permission bits. The
// drivers never create it: the VM lifecycle does, before Launch, without
// following symlinks. Anything else is a FailedPrecondition error saying
// what is wrong and how to fix it.
func CheckRuntimeDir(dir string) error {
	fi, err := os.Lstat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return errdefs.FailedPreconditionf("runtime directory %s does not exist: the VMM driver does not create it; create it with mode 0700 before launching", dir)
	}
	if err != nil {
		return errdefs.FailedPreconditionf("check runtime directory: %w", err)
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		return errdefs.FailedPreconditionf("runtime directory %s is a symlink: remove it; the VMM's sockets go only in a real private directory", dir)
	}
	if !fi.IsDir() {
		return errdefs.FailedPreconditionf("runtime directory %s is not a directory: remove it", dir)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return errdefs.FailedPreconditionf("runtime directory %s: cannot read its owner", dir)
	}
	if euid := os.Geteuid(); int(st.Uid) != euid {
		return errdefs.FailedPreconditionf("runtime directory %s is owned by uid %d, not by uid %d that runs the VMM: remove it", dir, st.Uid, euid)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return errdefs.FailedPreconditionf("runtime directory %s has mode %04o, open to other users: remove it (chmod 700 does not undo what others may have placed in it)", dir, perm)
	}
	return nil
}
