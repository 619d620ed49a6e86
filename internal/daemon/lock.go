package daemon

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"

	"banger/internal/errdefs"
)

// LockFile is the name of the lock file bangerd holds in its state
// directory and in its runtime directory for its whole life. Each holds
// the pid of the daemon that has it.
const LockFile = "bangerd.lock"

// AlreadyRunningError says that another bangerd holds the lock of a state
// or runtime directory. bangerd exits with status 3 for it, so that a CLI
// that started a daemon at the same time as another CLI knows its daemon
// lost the race and talks to the winner.
type AlreadyRunningError struct {
	What string // "state directory" or "runtime directory"
	Dir  string
	PID  int // 0 when the winner had not yet written its pid
}

func (e *AlreadyRunningError) Error() string {
	pid := "its pid is not yet recorded"
	if e.PID > 0 {
		pid = "pid " + strconv.Itoa(e.PID)
	}
	return fmt.Sprintf("bangerd is already running on %s %s (%s): use that one, or stop it first with banger daemon stop", e.What, e.Dir, pid)
}

// Unwrap classifies the error as failed_precondition.
func (e *AlreadyRunningError) Unwrap() error {
	return &errdefs.Error{Kind: errdefs.FailedPrecondition, Msg: e.Error()}
}

// dirLock is an exclusive flock on the lock file of one directory.
type dirLock struct {
	fd int
}

// lockDir takes the exclusive lock of dir (a private directory the daemon
// owns; what names it in errors) without waiting, and records this
// process's pid in it. The lock file is opened with O_NOFOLLOW and
// O_CLOEXEC, mode 0600: a symlink planted in its place is refused, and no
// child (no VMM) inherits the descriptor, so the lock ends exactly when
// this process releases it or dies. Another daemon holding it gives an
// *AlreadyRunningError naming that daemon's pid.
func lockDir(what, dir string) (*dirLock, error) {
	path := filepath.Join(dir, LockFile)
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CREAT|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0o600)
	if err != nil {
		if errors.Is(err, unix.ELOOP) {
			return nil, errdefs.FailedPreconditionf("lock file %s is a symlink, which bangerd refuses to follow: remove it (rm %s) and start bangerd again", path, path)
		}
		return nil, errdefs.FailedPreconditionf("open lock file %s: %w: check the permissions of %s", path, err, dir)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("check lock file %s: %w", path, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		unix.Close(fd)
		return nil, errdefs.FailedPreconditionf("lock file %s is not a regular file: remove it (rm %s) and start bangerd again", path, path)
	}
	if err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		defer unix.Close(fd)
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, &AlreadyRunningError{What: what, Dir: dir, PID: readPID(fd)}
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	pid := []byte(strconv.Itoa(os.Getpid()) + "\n")
	err = unix.Ftruncate(fd, 0)
	if err == nil {
		_, err = unix.Pwrite(fd, pid, 0)
	}
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("write pid to %s: %w", path, err)
	}
	return &dirLock{fd: fd}, nil
}

// readPID reads the pid the holder of a lock file recorded, 0 if none.
func readPID(fd int) int {
	buf := make([]byte, 32)
	n, err := unix.Pread(fd, buf, 0)
	if err != nil || n == 0 {
		return 0
	}
	pid, err := strconv.Atoi(string(bytes.TrimSpace(buf[:n])))
	if err != nil || pid <= 0 {
		return 0
	}
	return pid
}

// release gives the lock up. The pid stays in the file; the lock, not the
// file's content, says whether a daemon runs.
func (l *dirLock) release() error {
	if l == nil || l.fd < 0 {
		return nil
	}
	err := unix.Close(l.fd)
	l.fd = -1
	return err
}
