package privileged

import (
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"banger/internal/errdefs"
)

const (
	// dirMode lets every user look for the socket; only the socket's
	// owner and root can connect to it.
	dirMode = 0o755
	// socketMode lets only the socket's owner (the served uid) and root
	// connect; SO_PEERCRED is checked again for every connection.
	socketMode = 0o600
)

// Listen opens the helper's socket at path for uid, the uid it serves
// (Policy.UID). Its directory is made (its parent is not) or checked: it
// must be a real directory owned by this process's euid (root for the
// helper), not a symlink; its mode is set to 0755. A stale socket left by
// a helper that died is removed; one a helper still answers on is refused.
// The socket is owned by uid with mode 0600, so that no other user (root
// aside) can connect at all; Serve still checks every caller with
// SO_PEERCRED, in case the socket's mode is loosened. Giving the socket to
// another uid needs root.
func Listen(path string, uid int) (*net.UnixListener, error) {
	if !filepath.IsAbs(path) {
		return nil, errdefs.InvalidArgumentf("helper socket %q is not an absolute path", path)
	}
	if uid < 0 || uid > maxID {
		return nil, errdefs.InvalidArgumentf("helper socket owner %d: want the uid bangerd runs as", uid)
	}
	if err := ensureSocketDir(filepath.Dir(path), os.Geteuid()); err != nil {
		return nil, err
	}
	if err := removeStale(path); err != nil {
		return nil, err
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, errdefs.FailedPreconditionf("listen on %s: %w", path, err)
	}
	if err := os.Chmod(path, socketMode); err != nil {
		_ = ln.Close()
		return nil, errdefs.FailedPreconditionf("set the mode of %s: %w", path, err)
	}
	if err := unix.Fchownat(unix.AT_FDCWD, path, uid, -1, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		_ = ln.Close()
		return nil, errdefs.FailedPreconditionf("give %s to uid %d: %w: run the root helper as root", path, uid, err)
	}
	return ln, nil
}

// ensureSocketDir makes dir a 0755 directory owned by uid, refusing a
// symlink, a non-directory or another owner's directory. The entry is
// fixed through a descriptor opened with O_NOFOLLOW that must be the inode
// Lstat saw, so a swapped-in symlink is caught rather than followed.
func ensureSocketDir(dir string, uid int) error {
	fi, err := os.Lstat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.Mkdir(dir, dirMode); err != nil && !errors.Is(err, fs.ErrExist) {
			return errdefs.FailedPreconditionf("create socket directory: %w: check that %s exists", err, filepath.Dir(dir))
		}
		fi, err = os.Lstat(dir)
	}
	if err != nil {
		return errdefs.FailedPreconditionf("check socket directory: %w", err)
	}
	switch mode := fi.Mode(); {
	case mode&fs.ModeSymlink != 0:
		return errdefs.FailedPreconditionf("socket directory %s is a symlink, which the root helper refuses to follow: remove it (rm %s) and start the helper again", dir, dir)
	case !mode.IsDir():
		return errdefs.FailedPreconditionf("socket directory %s is not a directory: remove it (rm %s) and start the helper again", dir, dir)
	}
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return errdefs.FailedPreconditionf("open socket directory %s: %w: remove it and start the helper again", dir, err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return errdefs.FailedPreconditionf("check socket directory %s: %w", dir, err)
	}
	if lst, ok := fi.Sys().(*syscall.Stat_t); !ok || lst.Dev != st.Dev || lst.Ino != st.Ino {
		return errdefs.FailedPreconditionf("socket directory %s was replaced while the root helper checked it: remove it (rm -rf %s) and start the helper again", dir, dir)
	}
	if int(st.Uid) != uid {
		return errdefs.FailedPreconditionf("socket directory %s is owned by uid %d, not %d: remove it (rm -rf %s) or pick another --socket, and start the helper again", dir, st.Uid, uid, dir)
	}
	if st.Mode&0o7777 != dirMode {
		if err := unix.Fchmod(fd, dirMode); err != nil {
			return errdefs.FailedPreconditionf("set the mode of socket directory %s: %w: run chmod 755 %s", dir, err, dir)
		}
	}
	return nil
}

// removeStale removes a socket nobody answers on. Anything else at path,
// or a socket a live helper answers on, is refused.
func removeStale(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return errdefs.FailedPreconditionf("check %s: %w", path, err)
	}
	if fi.Mode()&fs.ModeSocket == 0 {
		return errdefs.FailedPreconditionf("%s exists and is not a socket: remove it (rm %s) or pick another --socket", path, path)
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		_ = c.Close()
		return errdefs.AlreadyExistsf("a root helper already serves on %s: stop it first", path)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return errdefs.FailedPreconditionf("remove stale socket %s: %w", path, err)
	}
	return nil
}
