package firecracker

import (
	"context"
	"fmt"
	"os"

	"banger/internal/process"
	"banger/internal/vmm"
	"banger/internal/vmm/vmmlog"
)

// Device ids banger gives Firecracker.
const (
	RootDriveID = "rootfs"
	WorkDriveID = "work"
	// IdentityDriveID is the read-only per-VM identity disk.
	IdentityDriveID = "identity"
	NetIfaceID      = "eth0"
)

// bootStep is one named call in the boot sequence.
type bootStep struct {
	name string
	run  func(ctx context.Context, c *Client) error
}

// Boot validates spec, then configures the launched firecracker p and
// starts the guest, one named step at a time. A failed step's error names
// it ("boot step machine-config: ..."); the caller kills the process.
func (d *Driver) Boot(ctx context.Context, spec vmm.Spec, p vmm.Process) error {
	if err := validateBoot(spec, p); err != nil {
		return err
	}
	if !process.Alive(p.PID, p.StartTime) {
		return fmt.Errorf("boot vm %s: firecracker pid %d: %w", spec.ID, p.PID, vmm.ErrNotRunning)
	}
	c := NewClient(p.APISocket, 0)
	for _, s := range bootSteps(spec) {
		if err := s.run(ctx, c); err != nil {
			return fmt.Errorf("boot step %s: %w", s.name, err)
		}
	}
	return nil
}

// bootSteps is the ordered boot sequence for spec. Optional devices have a
// step only when spec asks for them.
func bootSteps(spec vmm.Spec) []bootStep {
	var steps []bootStep
	if spec.MetricsPath != "" {
		steps = append(steps, bootStep{"metrics", func(ctx context.Context, c *Client) error {
			if err := vmmlog.Reset(spec.MetricsPath); err != nil {
				return err
			}
			return c.PutMetrics(ctx, Metrics{MetricsPath: spec.MetricsPath})
		}})
	}
	steps = append(steps,
		bootStep{"machine-config", func(ctx context.Context, c *Client) error {
			return c.PutMachineConfig(ctx, MachineConfig{VcpuCount: spec.VCPUs, MemSizeMib: spec.MemoryMiB, Smt: false})
		}},
		bootStep{"boot-source", func(ctx context.Context, c *Client) error {
			return c.PutBootSource(ctx, BootSource{KernelImagePath: spec.Kernel, BootArgs: spec.BootArgs, InitrdPath: spec.Initrd})
		}},
		bootStep{"drive-links", func(ctx context.Context, c *Client) error { return linkDrives(spec) }},
		bootStep{"drive-" + RootDriveID, func(ctx context.Context, c *Client) error {
			return c.PutDrive(ctx, Drive{DriveID: RootDriveID, PathOnHost: drivePath(RootDriveID), IsRootDevice: true, IsReadOnly: false})
		}},
	)
	if spec.WorkDisk != "" {
		steps = append(steps, bootStep{"drive-" + WorkDriveID, func(ctx context.Context, c *Client) error {
			return c.PutDrive(ctx, Drive{DriveID: WorkDriveID, PathOnHost: drivePath(WorkDriveID), IsRootDevice: false, IsReadOnly: false})
		}})
	}
	if spec.IdentityDisk != "" {
		steps = append(steps, bootStep{"drive-" + IdentityDriveID, func(ctx context.Context, c *Client) error {
			return c.PutDrive(ctx, Drive{DriveID: IdentityDriveID, PathOnHost: drivePath(IdentityDriveID), IsRootDevice: false, IsReadOnly: true})
		}})
	}
	if spec.Tap != "" {
		steps = append(steps, bootStep{"network-" + NetIfaceID, func(ctx context.Context, c *Client) error {
			return c.PutNetworkInterface(ctx, NetworkInterface{IfaceID: NetIfaceID, HostDevName: spec.Tap, GuestMac: spec.MAC})
		}})
	}
	if spec.VsockPath != "" {
		steps = append(steps, bootStep{"vsock", func(ctx context.Context, c *Client) error {
			// Firecracker binds uds_path itself and fails if it exists.
			if err := os.Remove(spec.VsockPath); err != nil && !os.IsNotExist(err) {
				return fmt.Errorf("remove stale vsock socket: %w", err)
			}
			return c.PutVsock(ctx, Vsock{GuestCID: spec.VsockCID, UdsPath: spec.VsockPath})
		}})
	}
	steps = append(steps, bootStep{"instance-start", func(ctx context.Context, c *Client) error {
		return c.Action(ctx, ActionInstanceStart)
	}})
	return steps
}
