package vmmproc

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"syscall"
	"time"

	"banger/internal/process"
	"banger/internal/vmm"
	"banger/internal/vmm/vmmlog"
)

// cleanupTimeout bounds killing and reaping a process Start gives up on.
const cleanupTimeout = 5 * time.Second

// tailLines is how much of its log an early-exit error quotes.
const tailLines = 20

// Command is one VMM process for Start to launch.
type Command struct {
	// Name names the VMM in errors: "firecracker", "qemu".
	Name string
	// VM is the VM's id, for errors.
	VM string
	// Path is the executable's absolute path (from Program.Lookup).
	Path string
	Args []string

	// RuntimeDir is the directory the VMM's sockets go in. Start checks it
	// with CheckRuntimeDir and never creates it.
	RuntimeDir string
	// Dir is the process's working directory, against which the VMM
	// resolves relative paths it is given; empty means the daemon's.
	Dir string

	// Stdout and Stderr are the files the process's output is appended
	// to, created with mode 0600 when missing; they may be the same file.
	// An early exit is explained with the end of what this launch wrote
	// to Stderr.
	Stdout, Stderr string
	// Reset are files the VMM opens without creating them, created empty
	// (or emptied, see vmmlog.Reset) right before the start.
	Reset []string

	// Socket is the unix socket the VMM serves its API on, which Ready
	// talks to; SocketKind names it in errors ("api socket").
	Socket, SocketKind string
	// MoreSockets are further sockets the process binds as it starts.
	// A crashed VMM leaves its sockets behind, so Start removes stale
	// ones (Socket too) before the start, and all of them when it gives
	// up on the process.
	MoreSockets []string

	// Ready asks the VMM once whether it answers on Socket and returns
	// nil when it does. It must honour ctx and return promptly.
	Ready func(ctx context.Context) error
	// Timeout bounds the wait for Ready.
	Timeout time.Duration
}

// Start launches c and returns once Ready answers. The process runs in its
// own session, so that it outlives the daemon and no signal to the
// daemon's process group reaches it, with stdin from /dev/null and its
// output going to files, never to a pipe of the daemon. Sockets it creates
// follow the daemon's umask (077 in bangerd); the private RuntimeDir keeps
// them private regardless.
//
// Start leaves one goroutine per process that reaps it when it exits, so
// that no zombie is left while the daemon runs; it ends exactly when its
// process exits, which may be long after the daemon stops caring about it.
//
// On any error the process is killed (through the handle Go keeps for its
// child, a pidfd, so no other process can be hit), reaped within a bounded
// time that the caller's cancellation does not cut short, and its sockets
// are removed.
func Start(ctx context.Context, c Command) (vmm.Process, error) {
	if err := ctx.Err(); err != nil {
		return vmm.Process{}, fmt.Errorf("launch vm %s: %w", c.VM, err)
	}
	if err := CheckRuntimeDir(c.RuntimeDir); err != nil {
		return vmm.Process{}, fmt.Errorf("launch vm %s: %w", c.VM, err)
	}
	sockets := append([]string{c.Socket}, c.MoreSockets...)
	for _, s := range sockets {
		if s == "" {
			continue
		}
		if err := os.Remove(s); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return vmm.Process{}, fmt.Errorf("remove stale socket of vm %s: %w", c.VM, err)
		}
	}
	for _, f := range c.Reset {
		if err := vmmlog.Reset(f); err != nil {
			return vmm.Process{}, fmt.Errorf("vm %s: %w", c.VM, err)
		}
	}
	stdout, stdoutFrom, err := vmmlog.OpenAppend(c.Stdout)
	if err != nil {
		return vmm.Process{}, fmt.Errorf("open log of %s for vm %s: %w", c.Name, c.VM, err)
	}
	defer stdout.Close() // the child has its own copy
	stderr, stderrFrom := stdout, stdoutFrom
	if c.Stderr != c.Stdout {
		if stderr, stderrFrom, err = vmmlog.OpenAppend(c.Stderr); err != nil {
			return vmm.Process{}, fmt.Errorf("open log of %s for vm %s: %w", c.Name, c.VM, err)
		}
		defer stderr.Close()
	}

	cmd := exec.Command(c.Path, c.Args...)
	cmd.Stdin = nil // /dev/null
	cmd.Stdout = stdout
	cmd.Stderr = stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	cmd.Dir = c.Dir
	if err := cmd.Start(); err != nil {
		return vmm.Process{}, fmt.Errorf("start %s for vm %s: %w", c.Path, c.VM, err)
	}
	pid := cmd.Process.Pid
	// The child cannot have been reaped yet: nobody waits for it before
	// the reaper below starts, so its /proc entry is still there.
	start, _, stErr := process.StartTime(pid)

	exited := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()

	fail := func(err error) (vmm.Process, error) {
		abandon(ctx, cmd.Process, exited, sockets)
		return vmm.Process{}, err
	}
	if stErr != nil {
		return fail(fmt.Errorf("identify %s pid %d: %w", c.Name, pid, stErr))
	}
	if err := waitReady(ctx, c, exited); err != nil {
		if errors.Is(err, errExited) {
			// waitErr is set: exited is closed.
			err = fmt.Errorf("%s for vm %s exited during start-up (%v); the last lines of %s:\n%s",
				c.Name, c.VM, waitErr, c.Stderr, vmmlog.Tail(c.Stderr, stderrFrom, tailLines))
		}
		return fail(err)
	}
	return vmm.Process{PID: pid, StartTime: start, APISocket: c.Socket}, nil
}

// errExited reports that the process exited while Start waited for it.
var errExited = errors.New("vmm exited")

// maxPollDelay caps the backoff between two readiness probes.
const maxPollDelay = 10 * time.Millisecond

// waitReady calls c.Ready with a short, growing delay until it answers,
// the process exits, c.Timeout passes or ctx is done.
func waitReady(ctx context.Context, c Command, exited <-chan struct{}) error {
	timeout := time.NewTimer(c.Timeout)
	defer timeout.Stop()
	delay := time.Millisecond
	var lastErr error
	for {
		err := c.Ready(ctx)
		if err == nil {
			return nil
		}
		lastErr = err
		select {
		case <-exited:
			return errExited
		case <-ctx.Done():
			return fmt.Errorf("wait for %s %s %s: %w", c.Name, c.SocketKind, c.Socket, ctx.Err())
		case <-timeout.C:
			return fmt.Errorf("%s %s %s did not answer within %s (last error: %v): check %s, or raise the launch timeout on a slow host",
				c.Name, c.SocketKind, c.Socket, c.Timeout, lastErr, c.Stderr)
		case <-time.After(delay):
		}
		delay = min(delay*2, maxPollDelay)
	}
}

// abandon kills a process Start is giving up on, waits for the reaper and
// removes the process's sockets. It runs under a fresh timeout: cleanup
// must not be cut short by the caller's cancellation.
func abandon(ctx context.Context, p *os.Process, exited <-chan struct{}, sockets []string) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	// os.Process signals through a pidfd, and not at all once the reaper
	// has waited for the child, so this never reaches a reused pid.
	_ = p.Kill()
	select {
	case <-exited:
	case <-cctx.Done():
	}
	for _, s := range sockets {
		if s != "" {
			_ = os.Remove(s)
		}
	}
}
