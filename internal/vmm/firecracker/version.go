package firecracker

import (
	"context"

	"banger/internal/errdefs"
	"banger/internal/vmm"
	"banger/internal/vmm/vmmproc"
)

// MinVersion is the oldest Firecracker banger drives.
const MinVersion = "1.5.0"

// Check resolves the firecracker binary, runs `<binary> --version` and
// refuses versions older than MinVersion. The returned Info is filled in
// as far as it got, also on error, so doctor can show it.
func (d *Driver) Check(ctx context.Context) (vmm.Info, error) {
	return d.program().Check(ctx)
}

// ACPIMinVersion is the first Firecracker that describes virtio-mmio
// devices in ACPI tables on x86_64 (PR #4428), which kernels without
// command-line virtio-mmio devices (Debian's cloud kernel) need.
const ACPIMinVersion = "1.8.0"

// checkACPI refuses a Firecracker too old to describe devices in ACPI.
func (d *Driver) checkACPI(ctx context.Context) error {
	info, err := d.Check(ctx)
	if err != nil {
		return err
	}
	v, err := vmmproc.ParseVersion(info.Version)
	if err != nil {
		return err
	}
	min, _ := vmmproc.ParseVersion(ACPIMinVersion)
	if !v.AtLeast(min) {
		return errdefs.FailedPreconditionf("this kernel finds its disks through ACPI, which Firecracker describes from %s on, and %s is %s: upgrade Firecracker, use the qemu driver, or boot a kernel from \"banger kernel build\"", ACPIMinVersion, info.Binary, v)
	}
	return nil
}
