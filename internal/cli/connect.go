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

	"banger/internal/client"
	"banger/internal/errdefs"
	"banger/internal/paths"
)

// daemonStartTimeout bounds the wait for an auto-started bangerd.
const daemonStartTimeout = 15 * time.Second

// client returns a client connected to a running bangerd, starting the
// user-mode daemon first if none answers (and saying so).
func (a *app) client(ctx context.Context) (*client.Client, error) {
	if a.cl != nil {
		return a.cl, nil
	}
	socket := a.socket
	var layout paths.Layout
	if socket == "" {
		l, err := paths.UserLayout(a.getenv, os.Getuid())
		if err != nil {
			return nil, err
		}
		layout = l
		socket = l.Socket()
	}
	cl := &client.Client{Socket: socket}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	err := cl.Ping(pctx)
	cancel()
	if err == nil {
		a.cl = cl
		return cl, nil
	}
	if a.socket != "" || !errdefs.Is(err, errdefs.Unavailable) {
		return nil, err
	}
	if err := a.startDaemon(ctx, cl, layout); err != nil {
		return nil, err
	}
	a.cl = cl
	return cl, nil
}

// startDaemon launches bangerd in the background, detached from this
// terminal, and waits until it answers.
func (a *app) startDaemon(ctx context.Context, cl *client.Client, layout paths.Layout) error {
	bin, err := findDaemon(a.getenv)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(layout.StateDir, 0o700); err != nil {
		return fmt.Errorf("create state directory: %w", err)
	}
	logPath := layout.DaemonLog()
	logf, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("open daemon log: %w", err)
	}
	defer logf.Close()
	cmd := exec.Command(bin)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	fmt.Fprintf(a.env.Stderr, "banger: started bangerd (pid %d, log %s)\n", cmd.Process.Pid, logPath)
	deadline := time.Now().Add(daemonStartTimeout)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("bangerd exited at start (%v): %s", err, lastLines(logPath, 5))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		err := cl.Ping(pctx)
		cancel()
		if err == nil {
			return nil
		}
	}
	return errdefs.Unavailablef("bangerd did not answer on %s within %v: see %s", cl.Socket, daemonStartTimeout, logPath)
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

// lastLines returns the last n lines of a file, for error messages.
func lastLines(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "see " + path
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
