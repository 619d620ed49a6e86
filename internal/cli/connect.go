package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"banger/internal/client"
	"banger/internal/errdefs"
	"banger/internal/paths"
)

// daemonStartTimeout bounds the wait for an auto-started bangerd.
const daemonStartTimeout = 15 * time.Second

// exitAlreadyRunning is bangerd's exit status when another daemon already
// holds the lock of its state or runtime directory.
const exitAlreadyRunning = 3

// startLockFile, in the state directory, serializes the CLIs that find no
// daemon, so that only one of them starts one.
const startLockFile = "autostart.lock"

// client returns a client connected to a running bangerd, starting the
// user-mode daemon first if none answers (and saying so).
func (a *app) client(ctx context.Context) (*client.Client, error) {
	if a.cl != nil {
		return a.cl, nil
	}
	cl, layout, err := a.connect(ctx)
	if err == nil {
		a.cl = cl
		return cl, nil
	}
	if a.socket != "" || !errdefs.Is(err, errdefs.Unavailable) {
		return nil, err
	}
	cl, err = a.startDaemon(ctx, layout)
	if err != nil {
		return nil, err
	}
	a.cl = cl
	return cl, nil
}

// connect returns a client of the daemon that answers on the socket, or
// an error of kind Unavailable when none does (and none can: the runtime
// directory does not exist yet). Before a byte is sent, the runtime
// directory must be a real directory of this user with no group or other
// access (unless --socket names the socket), and the client checks that
// the listener runs as this user or root: another user's directory or
// listener is refused, never talked to, and no daemon is started over it.
func (a *app) connect(ctx context.Context) (*client.Client, paths.Layout, error) {
	socket := a.socket
	var layout paths.Layout
	if socket == "" {
		l, err := paths.UserLayout(a.getenv, os.Getuid())
		if err != nil {
			return nil, layout, err
		}
		layout = l
		socket = l.Socket()
		switch err := paths.CheckPrivateDir(l.RuntimeDir, os.Getuid()); {
		case errdefs.Is(err, errdefs.NotFound):
			return nil, layout, errdefs.Unavailablef("bangerd is not running: %w", err)
		case err != nil:
			return nil, layout, fmt.Errorf("banger will not use the daemon socket in %s: %w", l.RuntimeDir, err)
		}
	}
	cl := &client.Client{Socket: socket}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	err := cl.Ping(pctx)
	cancel()
	if err != nil {
		return nil, layout, err
	}
	return cl, layout, nil
}

// startDaemon launches bangerd in the background, detached from this
// terminal, and waits until it answers. CLIs that find no daemon at the
// same time take turns through a lock in the state directory, and each
// asks again before starting one, so only the first starts a daemon. A
// daemon that still loses the race to another one (started by hand, say)
// exits with exitAlreadyRunning, and this CLI then talks to the winner.
func (a *app) startDaemon(ctx context.Context, layout paths.Layout) (*client.Client, error) {
	bin, err := findDaemon(a.getenv)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(layout.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("create state directory: %w", err)
	}
	unlock, err := lockStart(ctx, layout.StateDir)
	if err != nil {
		return nil, err
	}
	defer unlock()
	// Another CLI may have started it while this one waited.
	if cl, _, err := a.connect(ctx); err == nil || !errdefs.Is(err, errdefs.Unavailable) {
		return cl, err
	}
	logPath := layout.DaemonLog()
	// Never through a planted symlink; the daemon itself then refuses a
	// state directory that others could write to.
	logf, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open daemon log: %w", err)
	}
	defer logf.Close()
	// Only what this daemon logs explains its failure.
	var logStart int64
	if fi, err := logf.Stat(); err == nil {
		logStart = fi.Size()
	}
	cmd := exec.Command(bin)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	fmt.Fprintf(a.env.Stderr, "banger: started bangerd (pid %d, log %s)\n", cmd.Process.Pid, logPath)
	deadline := time.Now().Add(daemonStartTimeout)
	lost := "" // what this daemon said when it lost to another one
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != exitAlreadyRunning {
				return nil, fmt.Errorf("bangerd exited at start (%v): %s", err, linesSince(logPath, logStart, 5))
			}
			// Another daemon holds the state: wait for it to answer.
			exited = nil
			lost = linesSince(logPath, logStart, 1)
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		cl, _, err := a.connect(pctx)
		cancel()
		if err == nil {
			return cl, nil
		}
		if !errdefs.Is(err, errdefs.Unavailable) && pctx.Err() == nil {
			return nil, err // e.g. another user's directory or listener: never wait for it
		}
	}
	if lost != "" {
		// The daemon that holds the state serves another socket (it runs
		// with another XDG_RUNTIME_DIR).
		return nil, errdefs.Unavailablef("no bangerd answers on %s, and the one started for it exited: %s", layout.Socket(), lost)
	}
	return nil, errdefs.Unavailablef("bangerd did not answer on %s within %v: see %s", layout.Socket(), daemonStartTimeout, logPath)
}

// lockStart takes the exclusive auto-start lock in stateDir, waiting for
// the CLI that holds it, and returns its release.
func lockStart(ctx context.Context, stateDir string) (func(), error) {
	path := filepath.Join(stateDir, startLockFile)
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CREAT|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w: check the permissions of %s", path, err, stateDir)
	}
	// The holder waits for its daemon at most daemonStartTimeout.
	deadline := time.Now().Add(2 * daemonStartTimeout)
	for {
		err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return func() { unix.Close(fd) }, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) || time.Now().After(deadline) {
			unix.Close(fd)
			return nil, errdefs.Unavailablef("wait for another banger that is starting bangerd (lock %s): %v", path, err)
		}
		select {
		case <-ctx.Done():
			unix.Close(fd)
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// findDaemon locates the bangerd binary: $BANGERD, next to this
// executable, or on PATH.
func findDaemon(getenv func(string) string) (string, error) {
	if p := getenv("BANGERD"); p != "" {
		return p, nil
	}
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), "bangerd")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	p, err := exec.LookPath("bangerd")
	if err != nil {
		return "", errors.New("bangerd is not running and its binary was not found next to banger or on PATH: install it (make install) or start it yourself")
	}
	return p, nil
}

// linesSince returns the last n lines written to a file after offset,
// for error messages.
func linesSince(path string, offset int64, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "see " + path
	}
	if offset > 0 && offset <= int64(len(b)) {
		b = b[offset:]
	}
	lines := splitLines(string(b))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	out := ""
	for _, l := range lines {
		out += "\n  " + l
	}
	return out
}

func splitLines(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			if i > start {
				out = append(out, s[start:i])
			}
			start = i + 1
		}
	}
	if start < len(s) {
		out = append(out, s[start:])
	}
	return out
}
