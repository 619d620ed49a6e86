package firecracker

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"banger/internal/process"
	"banger/internal/vmm"
	"banger/internal/vmm/vmmlog"
)

// APISocketName is the API socket's name inside spec.RuntimeDir.
const APISocketName = "api.sock"

// cleanupTimeout bounds killing a process Launch gives up on.
const cleanupTimeout = 5 * time.Second

// consoleTailLines is how much console output a start-up error shows.
const consoleTailLines = 20

// APISocketPath returns the API socket Launch uses for runtimeDir.
func APISocketPath(runtimeDir string) string { return filepath.Join(runtimeDir, APISocketName) }

// Launch starts `firecracker --api-sock <RuntimeDir>/api.sock --id <ID>
// --log-path <VMMLog> ...` in its own session with the console appended to spec.ConsoleLog, and returns
// once the API answers. On any error the process is killed and its socket
// removed.
func (d *Driver) Launch(ctx context.Context, spec vmm.Spec) (vmm.Process, error) {
	if err := validateLaunch(spec); err != nil {
		return vmm.Process{}, err
	}
	if err := ctx.Err(); err != nil {
		return vmm.Process{}, fmt.Errorf("launch vm %s: %w", spec.ID, err)
	}
	bin, err := d.binary()
	if err != nil {
		return vmm.Process{}, err
	}
	if err := os.MkdirAll(spec.RuntimeDir, 0o700); err != nil {
		return vmm.Process{}, fmt.Errorf("create runtime dir for vm %s: %w", spec.ID, err)
	}
	sock := APISocketPath(spec.RuntimeDir)
	if err := os.Remove(sock); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return vmm.Process{}, fmt.Errorf("remove stale api socket: %w", err)
	}
	console, consoleStart, err := vmmlog.OpenAppend(spec.ConsoleLog)
	if err != nil {
		return vmm.Process{}, fmt.Errorf("open console log for vm %s: %w", spec.ID, err)
	}
	defer console.Close() // the child has its own copy

	// The VMM's own log goes to its file from the first line, so the
	// console log holds only what the guest writes.
	if err := resetFile(spec.VMMLog); err != nil {
		return vmm.Process{}, fmt.Errorf("vm %s: %w", spec.ID, err)
	}
	cmd := exec.Command(bin, "--api-sock", sock, "--id", spec.ID,
		"--log-path", spec.VMMLog, "--level", "Info", "--show-level")
	cmd.Stdin = nil // /dev/null
	cmd.Stdout = console
	cmd.Stderr = console
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return vmm.Process{}, fmt.Errorf("start %s for vm %s: %w", bin, spec.ID, err)
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

	p := vmm.Process{PID: pid, StartTime: start, APISocket: sock}
	fail := func(err error) (vmm.Process, error) {
		d.abandon(ctx, p, exited)
		return vmm.Process{}, err
	}
	if stErr != nil {
		return fail(fmt.Errorf("identify firecracker pid %d: %w", pid, stErr))
	}
	if err := d.waitReady(ctx, sock, exited); err != nil {
		if errors.Is(err, errExited) {
			err = fmt.Errorf("firecracker for vm %s exited during start-up (%v); last console output:\n%s",
				spec.ID, waitErr, vmmlog.Tail(spec.ConsoleLog, consoleStart, consoleTailLines))
		}
		return fail(err)
	}
	return p, nil
}

// errExited reports that the process exited while Launch waited for it.
var errExited = errors.New("firecracker exited")

// waitReady polls GET / with backoff until it answers, the process exits,
// the launch timeout passes or ctx is done.
func (d *Driver) waitReady(ctx context.Context, sock string, exited <-chan struct{}) error {
	timeout := time.NewTimer(d.cfg.LaunchTimeout)
	defer timeout.Stop()
	c := NewClient(sock, 500*time.Millisecond)
	delay := time.Millisecond
	var lastErr error
	for {
		_, err := c.InstanceInfo(ctx)
		if err == nil {
			return nil
		}
		lastErr = err
		select {
		case <-exited:
			return errExited
		case <-ctx.Done():
			return fmt.Errorf("wait for firecracker api socket %s: %w", sock, ctx.Err())
		case <-timeout.C:
			return fmt.Errorf("firecracker api socket %s did not answer within %s (last error: %v): check the console log, or raise the launch timeout on a slow host",
				sock, d.cfg.LaunchTimeout, lastErr)
		case <-time.After(delay):
		}
		delay = min(delay*2, 10*time.Millisecond)
	}
}

// abandon kills a process Launch is giving up on and removes its socket.
// It runs under a fresh timeout: cleanup must not be cut short by the
// caller's cancellation.
func (d *Driver) abandon(ctx context.Context, p vmm.Process, exited <-chan struct{}) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	if p.StartTime != 0 {
		_ = process.Kill(cctx, p.PID, p.StartTime, cleanupTimeout)
	} else {
		// Without a start time the pid cannot be pinned, but the child is
		// still ours and unreaped until exited closes, so it is safe to
		// signal while that channel is open.
		select {
		case <-exited:
		default:
			_ = syscall.Kill(p.PID, syscall.SIGKILL)
		}
	}
	select {
	case <-exited:
	case <-cctx.Done():
	}
	_ = os.Remove(p.APISocket)
}
