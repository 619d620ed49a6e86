package qemu

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"banger/internal/errdefs"
	"banger/internal/process"
	"banger/internal/vmm"
	"banger/internal/vmm/vmmproc"
)

// migratePoll is how often query-migrate is asked while a migration to or
// from a file runs.
const migratePoll = 50 * time.Millisecond

// snapshotTimeout bounds saving or loading one guest when ctx has no
// deadline: a migration stream is about the size of guest memory.
const snapshotTimeout = 5 * time.Minute

// qmpMigration is query-migrate's answer.
type qmpMigration struct {
	Status    string `json:"status"`
	ErrorDesc string `json:"error-desc"`
}

// Snapshot saves the paused guest of p to files.State with QMP migrate to
// an exec: URI (qemu 7.2 has no file: URI; exec: runs the command through
// /bin/sh). qemu leaves the guest stopped ("postmigrate") afterwards;
// Resume runs it again.
func (d *Driver) Snapshot(ctx context.Context, p vmm.Process, files vmm.SnapshotFiles) error {
	uri, err := execURI("cat > ", files.State)
	if err != nil {
		return err
	}
	if _, err := os.Lstat(files.State); err == nil {
		return errdefs.AlreadyExistsf("snapshot state file %s exists: remove it or pick another", files.State)
	}
	ctx, cancel := withDefaultTimeout(ctx, snapshotTimeout)
	defer cancel()
	return vmmproc.Ask(ctx, p, "qemu", "qmp socket", "save the guest", func(ctx context.Context, sock string) error {
		err := qmpDo(ctx, sock, func(c *qmpConn) error {
			var st qmpStatus
			if err := c.execute("query-status", nil, &st); err != nil {
				return err
			}
			if st.Status != "paused" && st.Status != "postmigrate" {
				return errdefs.FailedPreconditionf("the guest is %q, not paused: pause it before saving it", st.Status)
			}
			return c.execute("migrate", map[string]any{"uri": uri}, nil)
		})
		if err != nil {
			return err
		}
		return waitMigration(ctx, sock, files.State)
	})
}

// Restore loads the guest saved in files.State into p, launched with
// -incoming defer (spec.Restore), with QMP migrate-incoming. The devices
// on p's command line must be the saved guest's: Args builds the same
// machine from the same spec shape, with spec's disks, tap and sockets.
// The guest stays paused (-S) until Resume.
func (d *Driver) Restore(ctx context.Context, spec vmm.Spec, p vmm.Process, files vmm.SnapshotFiles) error {
	if !spec.Restore {
		return errdefs.InvalidArgumentf("restore vm %s: the spec was not launched for a restore (Spec.Restore unset)", spec.ID)
	}
	if err := validateProcess(p); err != nil {
		return err
	}
	uri, err := execURI("cat ", files.State)
	if err != nil {
		return err
	}
	if _, err := os.Stat(files.State); err != nil {
		return errdefs.NotFoundf("snapshot state file of vm %s: %w", spec.ID, err)
	}
	if !process.Alive(p.PID, p.StartTime) {
		return fmt.Errorf("restore vm %s: qemu pid %d: %w", spec.ID, p.PID, vmm.ErrNotRunning)
	}
	ctx, cancel := withDefaultTimeout(ctx, snapshotTimeout)
	defer cancel()
	err = qmpDo(ctx, p.APISocket, func(c *qmpConn) error {
		return c.execute("migrate-incoming", map[string]any{"uri": uri}, nil)
	})
	if err == nil {
		err = waitMigration(ctx, p.APISocket, files.State)
	}
	if err == nil {
		var st qmpStatus
		err = qmpDo(ctx, p.APISocket, func(c *qmpConn) error { return c.execute("query-status", nil, &st) })
		if err == nil && st.Status != "paused" {
			err = fmt.Errorf("qemu reports the restored guest %q, not paused", st.Status)
		}
	}
	if err != nil {
		if !process.Alive(p.PID, p.StartTime) {
			return fmt.Errorf("restore vm %s: qemu pid %d exited (see the vmm log %s): %w", spec.ID, p.PID, spec.VMMLog, vmm.ErrNotRunning)
		}
		return fmt.Errorf("restore vm %s: %w", spec.ID, err)
	}
	return nil
}

// waitMigration polls query-migrate on sock, a short QMP session each
// time, until the migration to or from file completed or failed.
func waitMigration(ctx context.Context, sock, file string) error {
	for {
		var m qmpMigration
		err := qmpDo(ctx, sock, func(c *qmpConn) error { return c.execute("query-migrate", nil, &m) })
		if err != nil {
			return err
		}
		switch m.Status {
		case "completed":
			return nil
		case "failed", "cancelled":
			return fmt.Errorf("migration with %s %s: %s", file, m.Status, m.ErrorDesc)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("migration with %s still %q: %w", file, m.Status, ctx.Err())
		case <-time.After(migratePoll):
		}
	}
}

// execURI is an exec: migration URI running command with path quoted for
// /bin/sh. A path with a single quote or a newline is refused rather than
// escaped: banger's own paths never have one.
func execURI(command, path string) (string, error) {
	if !strings.HasPrefix(path, "/") || strings.ContainsAny(path, "'\n") {
		return "", errdefs.InvalidArgumentf("snapshot file %q must be an absolute path without quotes or newlines", path)
	}
	return "exec:" + command + "'" + path + "'", nil
}

// withDefaultTimeout bounds ctx by d unless it has a deadline already.
func withDefaultTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
}
