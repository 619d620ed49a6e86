package main

import (
	"fmt"
	"os"
)

func (v *vmm) putAction(body []byte) error {
	action, err := decodeAction(body)
	if err != nil {
		return err
	}
	switch action {
	case "InstanceStart":
		return v.instanceStart()
	case "SendCtrlAltDel":
		return v.sendCtrlAltDel()
	default: // FlushMetrics
		if !v.started {
			return errPreBoot()
		}
		return v.metrics.flush()
	}
}

// instanceStart does what building the microVM would check, then "boots":
// the guest's console output goes to stdout and the vsock device starts
// accepting connections.
func (v *vmm) instanceStart() error {
	if v.started {
		return errPostBoot()
	}
	if v.boot == nil {
		return faultf("Start microvm error: Cannot start microvm without kernel configuration.")
	}
	if err := checkKernelImage(v.boot.KernelImagePath); err != nil {
		return err
	}
	v.started = true
	if v.vsock != nil {
		v.vsock.serve()
	}
	v.log.logf(levelInfo, "fc_vmm", "fakefc: microVM started (no guest runs; console output is simulated)")
	for _, line := range v.bootLines() {
		v.console.line(line)
	}
	return nil
}

// bootLines is the simulated serial console output of a booting guest.
func (v *vmm) bootLines() []string {
	cmdline := defaultCmdline
	if v.boot.BootArgs != nil {
		cmdline = *v.boot.BootArgs
	}
	if len(v.drives) > 0 && v.drives[0].IsRootDevice {
		// Firecracker appends the root device to the command line.
		root := v.drives[0]
		if root.PartUUID != nil {
			cmdline += " root=PARTUUID=" + *root.PartUUID
		} else {
			cmdline += " root=/dev/vda"
		}
		if root.IsReadOnly {
			cmdline += " ro"
		} else {
			cmdline += " rw"
		}
	}
	lines := []string{
		"[    0.000000] Linux version 6.1.0-fakefc (fakefc@banger) (gcc 12.2.0) #1 SMP PREEMPT_DYNAMIC (fake)",
		"[    0.000000] Command line: " + cmdline,
		fmt.Sprintf("[    0.000000] Memory: %dK/%dK available (fake)", v.machine.MemSizeMiB*1024*9/10, v.machine.MemSizeMiB*1024),
		fmt.Sprintf("[    0.004000] smpboot: Allowing %d CPUs, 0 hotplug CPUs", v.machine.VCPUCount),
	}
	for i, d := range v.drives {
		var sectors int64
		if info, err := os.Stat(d.PathOnHost); err == nil {
			sectors = info.Size() / 512
		}
		line := fmt.Sprintf("[    0.120000] virtio_blk virtio%d: [vd%c] %d 512-byte logical blocks", i, 'a'+i, sectors)
		if d.IsReadOnly {
			line += " (read-only)"
		}
		lines = append(lines, line)
	}
	for i, n := range v.nets {
		mac := "(random)"
		if n.GuestMAC != nil {
			mac = *n.GuestMAC
		}
		lines = append(lines, fmt.Sprintf("[    0.130000] virtio_net virtio%d eth%d: mac %s", len(v.drives)+i, i, mac))
	}
	if len(v.drives) > 0 && v.drives[0].IsRootDevice {
		lines = append(lines, "[    0.200000] VFS: Mounted root (ext4 filesystem) on device 254:0.")
	}
	return append(lines,
		"[    0.300000] Run /sbin/init as init process",
		"fake guest: ready",
	)
}

// sendCtrlAltDel presses the keys; a guest built with reboot=k resets,
// which makes Firecracker exit 0. With FAKEFC_IGNORE_CTRLALTDEL=1 the
// guest ignores them and the VMM keeps running.
func (v *vmm) sendCtrlAltDel() error {
	if !v.started {
		return errPreBoot()
	}
	if v.ignoreCtrlAltDel {
		v.log.logf(levelInfo, "fc_vmm", "fakefc: guest ignored CTRL+ALT+DEL (FAKEFC_IGNORE_CTRLALTDEL=1)")
		return nil
	}
	if v.paused {
		// The keys reach the i8042 device, but no vCPU runs to read them
		// until the guest is resumed.
		v.pendingCtrlAltDel = true
		v.log.logf(levelInfo, "fc_vmm", "fakefc: CTRL+ALT+DEL queued: the guest is paused")
		return nil
	}
	v.reset()
	return nil
}

// reset is what a guest built with reboot=k does on CTRL+ALT+DEL.
func (v *vmm) reset() {
	v.console.line("fake guest: ctrl-alt-del received, shutting down")
	v.console.line("[   10.000000] reboot: Restarting system")
	v.log.logf(levelInfo, "fc_vmm", "Vmm is stopping.")
	v.requestExit()
}
