package qemu

import (
	"context"

	"banger/internal/vmm"
)

// MinVersion is the oldest qemu banger drives: 6.0 is the first release
// whose microvm machine takes every option banger uses (acpi=off and the
// on/off option syntax).
const MinVersion = "6.0.0"

// Check resolves the qemu binary, runs `<binary> --version`, refuses
// versions older than MinVersion and decides the accelerator. Info.Version
// says which accelerator VMs get and why, e.g. "7.2.22 (tcg: /dev/kvm
// cannot run a guest here: ...; guests boot with norandmaps, see
// vmm.tcg_aslr)" or "7.2.22 (kvm)". The returned Info is filled in as far
// as it got, also on error, so doctor can show it.
func (d *Driver) Check(ctx context.Context) (vmm.Info, error) {
	info, err := d.program().Check(ctx)
	if err != nil {
		return info, err
	}
	accel, err := d.accelerator(ctx, info.Binary, d.cfg.ProbeKernel)
	if err != nil {
		return info, err
	}
	note := ""
	if accel.name == AccelTCG && !d.cfg.TCGASLR {
		note = "; guests boot with " + tcgNoRandMaps + ", see vmm.tcg_aslr"
	}
	info.Version += " (" + accel.String() + note + ")"
	return info, nil
}
