package qemu

import (
	"context"
	"fmt"

	"banger/internal/process"
	"banger/internal/vmm"
)

// Boot starts the guest of the paused qemu p: everything else was on its
// command line. It sends QMP cont and checks with query-status that the
// guest runs. It is safe to retry; the caller kills the process on error.
func (d *Driver) Boot(ctx context.Context, spec vmm.Spec, p vmm.Process) error {
	if err := validateProcess(p); err != nil {
		return err
	}
	if !process.Alive(p.PID, p.StartTime) {
		return fmt.Errorf("boot vm %s: qemu pid %d: %w", spec.ID, p.PID, vmm.ErrNotRunning)
	}
	var st qmpStatus
	err := qmpDo(ctx, p.APISocket, func(c *qmpConn) error {
		if err := c.execute("cont", nil, nil); err != nil {
			return err
		}
		return c.execute("query-status", nil, &st)
	})
	if err != nil {
		if !process.Alive(p.PID, p.StartTime) {
			return fmt.Errorf("boot vm %s: qemu pid %d exited: %w", spec.ID, p.PID, vmm.ErrNotRunning)
		}
		return fmt.Errorf("boot vm %s: %w", spec.ID, err)
	}
	// "running" while the guest runs; "shutdown" or "guest-panicked" if it
	// already stopped, "internal-error" when the accelerator failed.
	if !st.Running {
		return fmt.Errorf("boot vm %s: qemu reports the guest %q, not running: see the vmm log %s and console log %s",
			spec.ID, st.Status, spec.VMMLog, spec.ConsoleLog)
	}
	return nil
}
