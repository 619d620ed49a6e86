package qemu

import (
	"context"
	"fmt"

	"banger/internal/vmm"
	"banger/internal/vmm/vmmproc"
)

// Pause stops the guest's vCPUs with QMP stop. stop on a stopped guest is
// a no-op in qemu.
func (d *Driver) Pause(ctx context.Context, p vmm.Process) error {
	return vmmproc.Ask(ctx, p, "qemu", "qmp socket", "pause", func(ctx context.Context, sock string) error {
		return qmpDo(ctx, sock, func(c *qmpConn) error { return c.execute("stop", nil, nil) })
	})
}

// Resume lets the guest run again with QMP cont, then checks with
// query-status that it runs: cont succeeds on a guest that shut down.
func (d *Driver) Resume(ctx context.Context, p vmm.Process) error {
	var st qmpStatus
	err := vmmproc.Ask(ctx, p, "qemu", "qmp socket", "resume", func(ctx context.Context, sock string) error {
		return qmpDo(ctx, sock, func(c *qmpConn) error {
			if err := c.execute("cont", nil, nil); err != nil {
				return err
			}
			return c.execute("query-status", nil, &st)
		})
	})
	if err != nil {
		return err
	}
	if !st.Running {
		return fmt.Errorf("resume qemu pid %d: qemu reports the guest %q, not running: see the VM's vmm and console logs", p.PID, st.Status)
	}
	return nil
}

// Paused reports whether query-status says the guest is "paused" (stopped
// by QMP stop, as opposed to shut down or failed).
func (d *Driver) Paused(ctx context.Context, p vmm.Process) (bool, error) {
	var st qmpStatus
	err := vmmproc.Ask(ctx, p, "qemu", "qmp socket", "report its state", func(ctx context.Context, sock string) error {
		return qmpDo(ctx, sock, func(c *qmpConn) error { return c.execute("query-status", nil, &st) })
	})
	if err != nil {
		return false, fmt.Errorf("query guest state: %w", err)
	}
	// A guest saved by Snapshot is "postmigrate": stopped, and cont runs it.
	return st.Status == "paused" || st.Status == "postmigrate", nil
}
