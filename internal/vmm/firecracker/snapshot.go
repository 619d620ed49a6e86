package firecracker

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"banger/internal/errdefs"
	"banger/internal/process"
	"banger/internal/vmm"
	"banger/internal/vmm/vmmlog"
	"banger/internal/vmm/vmmproc"
)

// snapshotRequestTimeout bounds PUT /snapshot/create and /snapshot/load,
// which write or map all of guest memory.
const snapshotRequestTimeout = 5 * time.Minute

// Snapshot saves the paused microVM p with PUT /snapshot/create (Full):
// vCPU and device state to files.State, guest memory to files.Memory.
// Firecracker itself refuses a microVM whose vCPUs run.
func (d *Driver) Snapshot(ctx context.Context, p vmm.Process, files vmm.SnapshotFiles) error {
	if files.State == "" || files.Memory == "" {
		return errdefs.InvalidArgumentf("a Firecracker snapshot needs a state file and a memory file")
	}
	for _, f := range []string{files.State, files.Memory} {
		if _, err := os.Lstat(f); err == nil {
			return errdefs.AlreadyExistsf("snapshot file %s exists: remove it or pick another", f)
		}
	}
	return vmmproc.Ask(ctx, p, "firecracker", "api socket", "save the microVM", func(ctx context.Context, sock string) error {
		return NewClient(sock, snapshotRequestTimeout).CreateSnapshot(ctx, SnapshotCreateParams{
			SnapshotType: SnapshotFull, SnapshotPath: files.State, MemFilePath: files.Memory,
		})
	})
}

// Restore loads the microVM saved in files into the launched firecracker p
// with PUT /snapshot/load (memory from a file, not resumed). The load
// reopens the drives at the paths the snapshot recorded, which are the
// relative drive links (drivePath): p resolves them in its own runtime
// directory, linked to spec's disks first, so no file of the VM the
// snapshot was taken of is opened. The tap and vsock socket are the new
// VM's through network_overrides (Firecracker 1.12 and later) and
// vsock_override (1.16 and later). Each drive is then set again to its
// link with PATCH /drives: a no-op for a snapshot with relative paths,
// and for one an older banger saved with the parent's absolute paths
// (which the load still had to open) it moves the drives to spec's disks.
// Only the metrics file is configured before the load, which no
// boot-specific resource may precede.
func (d *Driver) Restore(ctx context.Context, spec vmm.Spec, p vmm.Process, files vmm.SnapshotFiles) error {
	if err := validateBoot(spec, p); err != nil {
		return err
	}
	if !process.Alive(p.PID, p.StartTime) {
		return fmt.Errorf("restore vm %s: firecracker pid %d: %w", spec.ID, p.PID, vmm.ErrNotRunning)
	}
	c := NewClient(p.APISocket, snapshotRequestTimeout)
	steps := []bootStep{}
	if spec.MetricsPath != "" {
		steps = append(steps, bootStep{"metrics", func(ctx context.Context, c *Client) error {
			if err := vmmlog.Reset(spec.MetricsPath); err != nil {
				return err
			}
			return c.PutMetrics(ctx, Metrics{MetricsPath: spec.MetricsPath})
		}})
	}
	steps = append(steps,
		// The load opens the drives through the links.
		bootStep{"drive-links", func(ctx context.Context, c *Client) error { return linkDrives(spec) }},
		bootStep{"snapshot-load", func(ctx context.Context, c *Client) error {
			// Restoring into the VM's own paths (a restart from its own
			// snapshot): Firecracker binds the socket itself and fails if
			// a stale one is there.
			if spec.VsockPath != "" {
				if err := os.Remove(spec.VsockPath); err != nil && !os.IsNotExist(err) {
					return fmt.Errorf("remove stale vsock socket: %w", err)
				}
			}
			params := SnapshotLoadParams{
				SnapshotPath: files.State,
				MemBackend:   MemBackend{BackendType: "File", BackendPath: files.Memory},
			}
			// The new VM's own tap and socket, not the saved VM's.
			if spec.Tap != "" {
				params.NetworkOverrides = []NetworkOverride{{IfaceID: NetIfaceID, HostDevName: spec.Tap}}
			}
			if spec.VsockPath != "" {
				params.VsockOverride = &VsockOverride{UDSPath: spec.VsockPath}
			}
			if err := c.LoadSnapshot(ctx, params); err != nil {
				return loadError(err)
			}
			return nil
		}},
		bootStep{"drive-" + RootDriveID, func(ctx context.Context, c *Client) error {
			return c.PatchDrive(ctx, PartialDrive{DriveID: RootDriveID, PathOnHost: drivePath(RootDriveID)})
		}},
	)
	if spec.WorkDisk != "" {
		steps = append(steps, bootStep{"drive-" + WorkDriveID, func(ctx context.Context, c *Client) error {
			return c.PatchDrive(ctx, PartialDrive{DriveID: WorkDriveID, PathOnHost: drivePath(WorkDriveID)})
		}})
	}
	if spec.IdentityDisk != "" {
		steps = append(steps, bootStep{"drive-" + IdentityDriveID, func(ctx context.Context, c *Client) error {
			return c.PatchDrive(ctx, PartialDrive{DriveID: IdentityDriveID, PathOnHost: drivePath(IdentityDriveID)})
		}})
	}
	for _, s := range steps {
		if err := s.run(ctx, c); err != nil {
			if !process.Alive(p.PID, p.StartTime) {
				return fmt.Errorf("restore step %s: firecracker pid %d exited (see the vmm log %s): %w", s.name, p.PID, spec.VMMLog, err)
			}
			return fmt.Errorf("restore step %s: %w", s.name, err)
		}
	}
	return nil
}

// loadError explains a refused PUT /snapshot/load where Firecracker's
// message alone does not say what to do.
func loadError(err error) error {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "unknown field"):
		return fmt.Errorf("%w (a snapshot is restored under its new VM's tap and vsock socket with network_overrides (Firecracker 1.12 and later) and vsock_override (1.16 and later), which older Firecrackers refuse: upgrade Firecracker to 1.16 or later or use the qemu driver)", err)
	case strings.Contains(msg, "backing file"):
		return fmt.Errorf("%w (the snapshot names a drive file that cannot be opened: a snapshot taken of a VM started by a banger before drive links names that VM's own disks and restores only while they exist: take a new snapshot of a VM started by this banger)", err)
	}
	return err
}
