package paths

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"

	"banger/internal/errdefs"
)

// privateMode is the mode banger gives the directories it makes.
const privateMode = 0o700

// groupOther are the permission bits a private directory must not have.
const groupOther = 0o077

// EnsurePrivateDir makes dir the private runtime directory of uid: a real
// directory (not a symlink), owned by uid, with no group or other
// permission bits. A missing dir is created with mode 0700 (its parent is
// not) and given to uid. An existing one is checked and refused, with an
// error that says how to fix it, when it is a symlink (even to a good
// directory), not a directory, owned by another user, or has any group or
// other permission bit: a directory others could write to may hold entries
// they planted (a symlink named vms, say), and banger never repairs such a
// directory by chmod, since that would keep what was planted. Only the
// owner's own bits and the special bits are set right (to 0700) in place.
// The entry is examined with Lstat, re-examined after creating it, and
// then checked through a descriptor opened with O_NOFOLLOW that must be
// the same inode, so a symlink swapped in meanwhile is caught rather than
// followed.
func EnsurePrivateDir(dir string, uid int) error {
	return ensurePrivate(runtimeDir, dir, uid)
}

// dirKind says which of banger's roots a directory is, for the messages
// and their fixes.
type dirKind struct {
	name string // "runtime directory"
	// loose is the fix for a directory that others could write to.
	loose func(dir string) string
}

var (
	runtimeDir = dirKind{name: "runtime directory", loose: func(dir string) string {
		return fmt.Sprintf("stop bangerd, remove it (rm -rf %s) and start banger again", dir)
	}}
	stateDir = dirKind{name: "state directory", loose: func(dir string) string {
		return fmt.Sprintf("check that nothing in it was put there by someone else (find %s ! -user $(id -u)), then make it private (chmod -R go-rwx %s) and start banger again", dir, dir)
	}}
)

func ensurePrivate(kind dirKind, dir string, uid int) error {
	if !filepath.IsAbs(dir) {
		return errdefs.InvalidArgumentf("%s %q is not an absolute path", kind.name, dir)
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
			return errdefs.FailedPreconditionf("create %s: %w: check that %s exists and is writable", kind.name, err, filepath.Dir(dir))
		}
		fi, err = os.Lstat(dir)
	}
	if err != nil {
		return errdefs.FailedPreconditionf("check %s: %w", kind.name, err)
	}
	if err := checkEntry(kind.name, dir, fi); err != nil {
		return err
	}

	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
			return replaced(kind.name, dir)
		}
		return errdefs.FailedPreconditionf("open %s %s: %w", kind.name, dir, err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return errdefs.FailedPreconditionf("check %s %s: %w", kind.name, dir, err)
	}
	if lst, ok := fi.Sys().(*syscall.Stat_t); !ok || lst.Dev != st.Dev || lst.Ino != st.Ino {
		return replaced(kind.name, dir)
	}

	if created && int(st.Uid) != uid {
		if err := unix.Fchown(fd, uid, -1); err != nil {
			return errdefs.FailedPreconditionf("give %s %s to uid %d: %w: run banger as uid %d or as root", kind.name, dir, uid, err, uid)
		}
		st.Uid = uint32(uid)
	}
	if err := checkPrivate(kind, dir, st, uid); err != nil {
		return err
	}
	if st.Mode&0o7777 != privateMode {
		if err := unix.Fchmod(fd, privateMode); err != nil {
			return errdefs.FailedPreconditionf("make %s %s private: %w: run chmod 700 %s", kind.name, dir, err, dir)
		}
	}
	return nil
}

// CheckPrivateDir checks, without creating or changing anything, that dir
// is what EnsurePrivateDir makes: a real directory owned by uid with no
// group or other permission bits. The CLI calls it before it talks to the
// daemon socket inside, so that it never sends a byte to a socket another
// user could have put there. A missing dir gives an error of kind
// NotFound; every other failure says what is wrong and how to fix it.
func CheckPrivateDir(dir string, uid int) error {
	fi, err := os.Lstat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return errdefs.NotFoundf("runtime directory %s does not exist", dir)
	}
	if err != nil {
		return errdefs.FailedPreconditionf("check runtime directory: %w", err)
	}
	if err := checkEntry(runtimeDir.name, dir, fi); err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return errdefs.FailedPreconditionf("check runtime directory %s: no owner information", dir)
	}
	return checkPrivate(runtimeDir, dir, unix.Stat_t{Uid: st.Uid, Mode: st.Mode}, uid)
}

// checkPrivate refuses a directory, already known to be one, that is not
// owned by uid or has group or other permission bits.
func checkPrivate(kind dirKind, dir string, st unix.Stat_t, uid int) error {
	if int(st.Uid) != uid {
		return errdefs.FailedPreconditionf("%s %s is owned by uid %d, not %d: remove it (%srm -rf %s) and start banger again", kind.name, dir, st.Uid, uid, sudoFor(st.Uid), dir)
	}
	mode := st.Mode & 0o7777
	switch {
	case mode&0o022 != 0:
		return errdefs.FailedPreconditionf("%s %s has mode %04o: group or others can write to it, so anything in it may have been planted by another user: %s", kind.name, dir, mode, kind.loose(dir))
	case mode&groupOther != 0:
		return errdefs.FailedPreconditionf("%s %s has mode %04o: group or others can read or enter it: make it private (chmod 700 %s) and start banger again", kind.name, dir, mode, dir)
	}
	return nil
}

// checkEntry refuses an entry found by Lstat that is not a real directory.
func checkEntry(what, dir string, fi fs.FileInfo) error {
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
		return errdefs.FailedPreconditionf("%s %s is a symlink to %s, which banger refuses to follow: remove the link (%srm %s) and start banger again", what, dir, target, sudoFor(owner), dir)
	}
	if !mode.IsDir() {
		return errdefs.FailedPreconditionf("%s %s is %s, not a directory: remove it (%srm %s) and start banger again", what, dir, describe(mode), sudoFor(owner), dir)
	}
	return nil
}

// replaced reports a directory that changed between two checks.
func replaced(what, dir string) error {
	return errdefs.FailedPreconditionf("%s %s was replaced while banger was checking it: remove it (rm -rf %s) and start banger again", what, dir, dir)
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
