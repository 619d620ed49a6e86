package paths

import (
	"errors"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"banger/internal/errdefs"
)

// MkdirPrivate makes the directory rel below root, and every missing
// directory between them, private to uid, and returns root/rel. No
// symlink is followed at any step: starting from a descriptor of root
// (opened with O_NOFOLLOW), each component is created with mkdirat (mode
// 0700, given to uid) when missing and opened with openat(O_NOFOLLOW |
// O_DIRECTORY). root and every component must then be a directory owned
// by uid with no group or other permission bits; otherwise MkdirPrivate
// refuses, naming the entry and how to fix it. So nothing the daemon
// creates below its roots can land in a directory another user planted.
//
// root is one of banger's roots, already made private by Ensure. rel must
// be relative and clean, without "..".
func MkdirPrivate(root, rel string, uid int) (string, error) {
	if !filepath.IsAbs(root) {
		return "", errdefs.InvalidArgumentf("directory root %q is not an absolute path", root)
	}
	if rel == "" || filepath.IsAbs(rel) || filepath.Clean(rel) != rel || rel == "." ||
		rel == ".." || strings.HasPrefix(rel, "../") {
		return "", errdefs.InvalidArgumentf("directory %q is not a clean path below %s", rel, root)
	}
	fd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", openErr(root, err)
	}
	defer func() { unix.Close(fd) }()
	if err := checkFd(fd, root, uid); err != nil {
		return "", err
	}
	path := root
	for _, name := range strings.Split(rel, "/") {
		path = filepath.Join(path, name)
		created := false
		switch err := unix.Mkdirat(fd, name, privateMode); {
		case err == nil:
			created = true
		case errors.Is(err, unix.EEXIST):
		default:
			return "", errdefs.FailedPreconditionf("create %s: %w", path, err)
		}
		next, err := unix.Openat(fd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return "", openErrAt(fd, name, path, err)
		}
		unix.Close(fd)
		fd = next
		if created {
			var st unix.Stat_t
			if err := unix.Fstat(fd, &st); err != nil {
				return "", errdefs.FailedPreconditionf("check %s: %w", path, err)
			}
			if int(st.Uid) != uid {
				if err := unix.Fchown(fd, uid, -1); err != nil {
					return "", errdefs.FailedPreconditionf("give %s to uid %d: %w: run bangerd as uid %d", path, uid, err, uid)
				}
			}
		}
		if err := checkFd(fd, path, uid); err != nil {
			return "", err
		}
	}
	return path, nil
}

// checkFd refuses the open directory fd (at path) unless it is owned by
// uid and has no group or other permission bits.
func checkFd(fd int, path string, uid int) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return errdefs.FailedPreconditionf("check %s: %w", path, err)
	}
	if int(st.Uid) != uid {
		return errdefs.FailedPreconditionf("%s is owned by uid %d, not %d, so banger will not create anything in it: remove it (%srm -rf %s) and try again", path, st.Uid, uid, sudoFor(st.Uid), path)
	}
	if mode := st.Mode & 0o7777; mode&groupOther != 0 {
		return errdefs.FailedPreconditionf("%s has mode %04o: group or others may use it, so banger will not create anything in it: check what is in it, remove it (rm -rf %s) and try again", path, mode, path)
	}
	return nil
}

// openErr explains why a root could not be opened as a directory.
func openErr(path string, err error) error {
	return openErrAt(unix.AT_FDCWD, path, path, err)
}

// openErrAt explains why the entry name of the directory dirfd (at path)
// could not be opened as a directory.
func openErrAt(dirfd int, name, path string, err error) error {
	var st unix.Stat_t
	if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
		if unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK {
			return errdefs.FailedPreconditionf("%s is a symlink, which banger refuses to follow: remove it (%srm %s) and try again", path, sudoFor(st.Uid), path)
		}
		return errdefs.FailedPreconditionf("%s is not a directory: remove it (%srm %s) and try again", path, sudoFor(st.Uid), path)
	}
	return errdefs.FailedPreconditionf("open %s: %w", path, err)
}
