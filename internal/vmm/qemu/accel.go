package qemu

import (
	"context"
	"errors"
	"fmt"

	"banger/internal/errdefs"
)

// accelChoice is the accelerator VMs get and why.
type accelChoice struct {
	name   string // AccelKVM or AccelTCG
	reason string // empty when there is nothing to explain
}

func (a accelChoice) String() string {
	if a.reason == "" {
		return a.name
	}
	return a.name + ": " + a.reason
}

// errProbeInconclusive reports a probe boot that says nothing about KVM,
// e.g. because qemu could not load the kernel.
var errProbeInconclusive = errors.New("kvm probe boot inconclusive")

// accelerator decides the accelerator for a VM booting kernel (empty when
// there is none to probe with, as in Check), caching a definite answer.
//
// "tcg" and "kvm" are taken as configured ("kvm" only if /dev/kvm can
// create VMs). "auto" picks KVM only when /dev/kvm can create VMs AND a
// probe boot of a real kernel under KVM prints its banner in time: on some
// hosts (nested virtualisation among them) /dev/kvm accepts every ioctl and
// runs trivial guests, yet a Linux kernel crawls without ever reaching its
// console. Only a real kernel tells; tiny hand-made guests pass there.
func (d *Driver) accelerator(ctx context.Context, bin, kernel string) (accelChoice, error) {
	switch d.cfg.Accel {
	case AccelTCG:
		return accelChoice{AccelTCG, "set in the config"}, nil
	case AccelKVM:
		if err := d.kvmOpen(); err != nil {
			return accelChoice{}, errdefs.FailedPreconditionf("qemu accelerator kvm: %w: fix /dev/kvm or set the accelerator to auto or tcg", err)
		}
		return accelChoice{AccelKVM, "set in the config"}, nil
	case AccelAuto:
	default:
		return accelChoice{}, errdefs.InvalidArgumentf("qemu accelerator %q is not one of auto, kvm, tcg", d.cfg.Accel)
	}

	d.accelMu.Lock()
	defer d.accelMu.Unlock()
	if d.accelDone {
		return d.accel, nil
	}
	if err := d.kvmOpen(); err != nil {
		d.accel, d.accelDone = accelChoice{AccelTCG, err.Error()}, true
		return d.accel, nil
	}
	if kernel == "" {
		// Nothing to probe with yet; the first launch decides.
		return accelChoice{AccelTCG, "/dev/kvm creates VMs, but whether it runs a kernel is probed at the first VM launch"}, nil
	}
	err := d.kvmBoot(ctx, bin, kernel)
	switch {
	case err == nil:
		d.accel = accelChoice{AccelKVM, ""}
	case errors.Is(err, errProbeInconclusive), ctx.Err() != nil:
		// Decide for this VM only; a later launch probes again.
		return accelChoice{AccelTCG, err.Error()}, nil
	default:
		d.accel = accelChoice{AccelTCG, err.Error()}
	}
	d.accelDone = true
	return d.accel, nil
}

// kvmBootError says why a probe boot under KVM failed.
func kvmBootError(format string, args ...any) error {
	return fmt.Errorf("/dev/kvm cannot run guests here: "+format, args...)
}
