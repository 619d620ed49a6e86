// Package userfile opens the files a user names (the config file, an
// image's root filesystem, a kernel, an initrd, any path in an API
// request) so that reading them cannot hang or exhaust the daemon: the
// open never blocks (a FIFO or a device cannot stall it), a symlink swapped
// in after the path was resolved is not followed, only regular files of at
// most a size the caller chooses are returned, and long copies stop when
// their context is cancelled. It only reads: it must not create, modify or
// remove files.
package userfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"banger/internal/bytesize"
	"banger/internal/errdefs"
)

// ErrNotRegular is wrapped by the error of Open for a path that is not a
// regular file (a FIFO, a device, a directory, a socket).
var ErrNotRegular = errors.New("not a regular file")

// ErrTooLarge is wrapped by the error of Open for a file larger than the
// caller's limit.
var ErrTooLarge = errors.New("file too large")

// ErrSwapped is wrapped by the error of Open when a component of the path
// became a symlink between resolving and opening it.
var ErrSwapped = errors.New("path changed while it was opened")

// Open opens the regular file at path for reading and returns it. Symlinks
// in path are resolved once (a kernel named /boot/vmlinuz that links to
// vmlinuz-6.1 works); the resolved path is then opened without following
// any symlink, so one planted after the resolution makes Open fail instead
// of reading another file. The open is non-blocking, so a FIFO or a device
// does not stall it; the file is then checked with fstat to be a regular
// file of at most maxSize bytes, and switched back to blocking reads.
//
// A missing file gives an error that wraps fs.ErrNotExist and is NotFound;
// a file that is not regular (ErrNotRegular), too large (ErrTooLarge) or
// swapped (ErrSwapped) is InvalidArgument; a permission problem wraps
// fs.ErrPermission and is FailedPrecondition. Every message names path.
func Open(path string, maxSize int64) (*os.File, error) {
	if path == "" {
		return nil, errdefs.InvalidArgumentf("a file path is required")
	}
	resolved, err := filepath.EvalSymlinks(path)
	if err != nil {
		return nil, openError(path, err)
	}
	// Refuse what is not a regular file before opening it: opening some
	// devices has effects of its own. The fstat below closes the race.
	if st, err := os.Stat(resolved); err != nil {
		return nil, openError(path, err)
	} else if !st.Mode().IsRegular() {
		return nil, notRegular(path, st.Mode())
	}
	fd, err := openNoFollow(resolved)
	if err != nil {
		return nil, openError(path, err)
	}
	f, err := check(fd, path, maxSize)
	if err != nil {
		_ = unix.Close(fd)
		return nil, err
	}
	return f, nil
}

// openFlags open for reading without blocking, without becoming the
// controlling terminal and without following a final symlink.
const openFlags = unix.O_RDONLY | unix.O_NONBLOCK | unix.O_NOCTTY | unix.O_CLOEXEC | unix.O_NOFOLLOW

// openNoFollow opens the already resolved path, refusing a symlink in any
// of its components (openat2 with RESOLVE_NO_SYMLINKS). Where openat2 is
// missing (Linux before 5.6) or refused by a seccomp filter (ENOSYS or
// EPERM), only the last component is protected (O_NOFOLLOW); a real
// permission problem then fails the plain open the same way.
func openNoFollow(resolved string) (int, error) {
	how := unix.OpenHow{Flags: uint64(openFlags), Resolve: unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS}
	for {
		fd, err := unix.Openat2(unix.AT_FDCWD, resolved, &how)
		switch {
		case err == nil:
			return fd, nil
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.ENOSYS), errors.Is(err, unix.EPERM):
			return openLegacy(resolved)
		case errors.Is(err, unix.ELOOP):
			return -1, ErrSwapped
		}
		return -1, &fs.PathError{Op: "open", Path: resolved, Err: err}
	}
}

func openLegacy(resolved string) (int, error) {
	for {
		fd, err := unix.Open(resolved, openFlags, 0)
		switch {
		case err == nil:
			return fd, nil
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.ELOOP):
			return -1, ErrSwapped
		}
		return -1, &fs.PathError{Op: "open", Path: resolved, Err: err}
	}
}

// check makes sure fd is a regular file of at most maxSize bytes and
// returns it as a blocking *os.File named path.
func check(fd int, path string, maxSize int64) (*os.File, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, fmt.Errorf("stat %s: %w", path, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, notRegular(path, fileMode(st.Mode))
	}
	if st.Size > maxSize {
		return nil, errdefs.Wrap(errdefs.InvalidArgument, &fileError{ErrTooLarge,
			fmt.Sprintf("%s is %s, more than the %s allowed here", path, bytesize.Format(st.Size), bytesize.Format(maxSize))})
	}
	if err := unix.SetNonblock(fd, false); err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return os.NewFile(uintptr(fd), path), nil
}

// openError classifies a failure to resolve or open path.
func openError(path string, err error) error {
	switch {
	case errors.Is(err, ErrSwapped):
		return errdefs.Wrap(errdefs.InvalidArgument, &fileError{ErrSwapped,
			path + ": a symlink appeared in the path while it was opened: make sure nothing else changes it and try again"})
	case errors.Is(err, fs.ErrNotExist):
		return errdefs.Wrap(errdefs.NotFound, &fileError{fs.ErrNotExist, path + " does not exist: check the path"})
	case errors.Is(err, fs.ErrPermission):
		return errdefs.Wrap(errdefs.FailedPrecondition, &fileError{fs.ErrPermission,
			"cannot read " + path + ": permission denied: fix its permissions or run as its owner"})
	case errors.Is(err, unix.ENOTDIR):
		return errdefs.Wrap(errdefs.NotFound, &fileError{fs.ErrNotExist,
			path + " does not exist (a component of the path is not a directory): check the path"})
	}
	return fmt.Errorf("open %s: %w", path, err)
}

func notRegular(path string, mode fs.FileMode) error {
	return errdefs.Wrap(errdefs.InvalidArgument, &fileError{ErrNotRegular, path + " is " + describe(mode) + ", not a regular file"})
}

// fileError is a refusal whose message is complete on its own; it wraps
// one of the package's sentinel errors for errors.Is.
type fileError struct {
	kind error
	msg  string
}

func (e *fileError) Error() string { return e.msg }
func (e *fileError) Unwrap() error { return e.kind }

// describe names a file type for a person.
func describe(mode fs.FileMode) string {
	switch {
	case mode&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case mode&fs.ModeCharDevice != 0:
		return "a character device"
	case mode&fs.ModeDevice != 0:
		return "a block device"
	case mode.IsDir():
		return "a directory"
	case mode&fs.ModeSocket != 0:
		return "a socket"
	case mode&fs.ModeSymlink != 0:
		return "a symlink"
	}
	return "a special file"
}

// fileMode converts the type bits of a stat mode.
func fileMode(m uint32) fs.FileMode {
	switch m & unix.S_IFMT {
	case unix.S_IFIFO:
		return fs.ModeNamedPipe
	case unix.S_IFCHR:
		return fs.ModeDevice | fs.ModeCharDevice
	case unix.S_IFBLK:
		return fs.ModeDevice
	case unix.S_IFDIR:
		return fs.ModeDir
	case unix.S_IFSOCK:
		return fs.ModeSocket
	case unix.S_IFLNK:
		return fs.ModeSymlink
	}
	return fs.ModeIrregular
}
