package qemu

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

// cleanupTimeout bounds killing a process Launch gives up on.
const cleanupTimeout = 5 * time.Second

// logTailLines is how much log output a start-up error shows.
const logTailLines = 20

// Launch starts qemu for spec, paused, in its own session: the guest's
// serial console appended to spec.ConsoleLog (qemu's stdout), qemu's own
// messages appended to spec.VMMLog (its stderr). It returns once QMP
// answers. On any error the process is killed and its sockets removed.
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
	accel, err := d.accelerator(ctx, bin, spec.Kernel)
	if err != nil {
		return vmm.Process{}, err
	}
	if err := os.MkdirAll(spec.RuntimeDir, 0o700); err != nil {
		return vmm.Process{}, fmt.Errorf("create runtime dir for vm %s: %w", spec.ID, err)
	}
	sock := QMPSocketPath(spec.RuntimeDir)
	// A crashed qemu leaves its sockets behind.
	for _, s := range []string{sock, spec.VsockPath} {
		if s == "" {
			continue
		}
		if err := os.Remove(s); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return vmm.Process{}, fmt.Errorf("remove stale socket of vm %s: %w", spec.ID, err)
		}
	}
	console, _, err := vmmlog.OpenAppend(spec.ConsoleLog)
	if err != nil {
		return vmm.Process{}, fmt.Errorf("open console log for vm %s: %w", spec.ID, err)
	}
	defer console.Close() // the child has its own copy
	vmmLog, logStart, err := vmmlog.OpenAppend(spec.VMMLog)
	if err != nil {
		return vmm.Process{}, fmt.Errorf("open vmm log for vm %s: %w", spec.ID, err)
	}
	defer vmmLog.Close()

	cmd := exec.Command(bin, Args(spec, accel.name)...)
	cmd.Stdin = nil // /dev/null
	cmd.Stdout = console
	cmd.Stderr = vmmLog
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
		abandon(ctx, p, exited, spec.VsockPath)
		return vmm.Process{}, err
	}
	if stErr != nil {
		return fail(fmt.Errorf("identify qemu pid %d: %w", pid, stErr))
	}
	if err := d.waitReady(ctx, sock, exited); err != nil {
		if errors.Is(err, errExited) {
			err = fmt.Errorf("qemu for vm %s exited during start-up (%v); its log says:\n%s",
				spec.ID, waitErr, vmmlog.Tail(spec.VMMLog, logStart, logTailLines))
		}
		return fail(err)
	}
	return p, nil
}

// errExited reports that the process exited while Launch waited for it.
var errExited = errors.New("qemu exited")

// waitReady polls the QMP socket with backoff until a session opens, the
// process exits, the launch timeout passes or ctx is done.
func (d *Driver) waitReady(ctx context.Context, sock string, exited <-chan struct{}) error {
	timeout := time.NewTimer(d.cfg.LaunchTimeout)
	defer timeout.Stop()
	delay := time.Millisecond
	var lastErr error
	for {
		actx, cancel := context.WithTimeout(ctx, time.Second)
		err := qmpDo(actx, sock, func(*qmpConn) error { return nil })
		cancel()
		if err == nil {
			return nil
		}
		lastErr = err
		select {
		case <-exited:
			return errExited
		case <-ctx.Done():
			return fmt.Errorf("wait for qmp socket %s: %w", sock, ctx.Err())
		case <-timeout.C:
			return fmt.Errorf("qmp socket %s did not answer within %s (last error: %v): check the vmm log, or raise the launch timeout on a slow host",
				sock, d.cfg.LaunchTimeout, lastErr)
		case <-time.After(delay):
		}
		delay = min(delay*2, 20*time.Millisecond)
	}
}

// abandon kills a process Launch is giving up on and removes its sockets.
// It runs under a fresh timeout: cleanup must not be cut short by the
// caller's cancellation.
func abandon(ctx context.Context, p vmm.Process, exited <-chan struct{}, agentSock string) {
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
	if agentSock != "" {
		_ = os.Remove(agentSock)
	}
}
