package qemu

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"banger/internal/vmm"
)

// Names inside spec.RuntimeDir and device ids banger gives qemu. The QMP
// socket has the name every driver gives its control socket, so the VM
// service knows where it is (and can find an unrecorded VMM by it) before
// the VMM exists, whichever driver runs it.
const (
	QMPSocketName = "api.sock"
	RootDriveID   = "rootfs"
	WorkDriveID   = "work"
	// IdentityDriveID is the read-only per-VM identity disk.
	IdentityDriveID = "identity"
	NetdevID        = "net0"
	ConsoleID       = "con"
	AgentID         = "agent"
)

// AgentPortName is the name of the virtio-serial port of the guest agent;
// the guest sees it as /dev/virtio-ports/org.banger.agent.
const AgentPortName = "org.banger.agent"

// rootArgs is what the kernel command line gets on top of spec.BootArgs,
// as Firecracker adds it for its root device.
const rootArgs = "root=/dev/vda rw"

// QMPSocketPath returns the QMP socket Launch uses for runtimeDir.
func QMPSocketPath(runtimeDir string) string { return filepath.Join(runtimeDir, QMPSocketName) }

// Args returns the qemu command line (without the binary) that runs spec
// on accelerator accel, paused (-S) until Boot. Under TCG the guest boots
// with norandmaps unless tcgASLR (see tcgNoRandMaps).
//
// The machine is microvm without ACPI: devices are virtio-mmio and qemu
// announces them on the kernel command line, exactly the model Firecracker
// offers. A kernel that finds them only through ACPI (spec.ACPI, such as
// Debian's cloud kernel) gets microvm with ACPI, whose DSDT describes
// them as "LNRO0005" devices; under TCG that kernel also gets its TSC
// frequency on the command line (tscKHz), since a hardware-reduced ACPI
// machine has no PIT to calibrate against and its boot would wait forever,
// with tsc=reliable (see tscReliable), and, when spec.KernelHZ is known,
// the lpj= that follows from both. Block devices are attached root first, so the guest sees the
// root filesystem as /dev/vda and the work disk as /dev/vdb; the identity disk, read-only, comes last. The serial
// console is qemu's stdout; an i8042 keyboard controller carries
// Ctrl-Alt-Delete to the guest; the guest agent's channel is a
// virtio-serial port backed by a unix socket qemu listens on.
func Args(spec vmm.Spec, accel string, tcgASLR bool) []string {
	appendArgs := strings.TrimSpace(spec.BootArgs + " " + rootArgs)
	if accel == AccelTCG && !tcgASLR {
		appendArgs += " " + tcgNoRandMaps
	}
	machine := "microvm,acpi=off,x-option-roms=off,rtc=on"
	if spec.ACPI {
		machine = "microvm,acpi=on,x-option-roms=off,rtc=on"
		if khz := tscKHz(); accel == "tcg" && khz > 0 {
			appendArgs += " tsc_early_khz=" + strconv.Itoa(khz) + " " + tscReliable
			if spec.KernelHZ > 0 {
				appendArgs += " lpj=" + strconv.Itoa(lpj(khz, spec.KernelHZ))
			}
		}
	}
	args := []string{
		"-name", "banger-" + spec.ID,
		"-M", machine,
		"-accel", accel,
		"-cpu", "max",
		"-m", strconv.Itoa(spec.MemoryMiB) + "M",
		"-smp", strconv.Itoa(spec.VCPUs),
		"-nodefaults", "-no-user-config", "-nographic", "-no-reboot",
		"-kernel", spec.Kernel,
	}
	if spec.Initrd != "" {
		args = append(args, "-initrd", spec.Initrd)
	}
	args = append(args, "-append", appendArgs)
	rootFormat := vmm.DiskRaw
	if spec.RootDiskFormat != "" {
		rootFormat = spec.RootDiskFormat
	}
	args = append(args, drive(RootDriveID, spec.RootDisk, rootFormat, false)...)
	if spec.WorkDisk != "" {
		args = append(args, drive(WorkDriveID, spec.WorkDisk, vmm.DiskRaw, false)...)
	}
	if spec.IdentityDisk != "" {
		args = append(args, drive(IdentityDriveID, spec.IdentityDisk, vmm.DiskRaw, true)...)
	}
	if spec.Tap != "" {
		args = append(args,
			"-netdev", "tap,id="+NetdevID+",ifname="+spec.Tap+",script=no,downscript=no",
			"-device", "virtio-net-device,netdev="+NetdevID+",mac="+spec.MAC)
	}
	args = append(args,
		"-chardev", "stdio,id="+ConsoleID+",signal=off",
		"-serial", "chardev:"+ConsoleID,
		"-device", "i8042")
	if spec.VsockPath != "" {
		args = append(args,
			"-device", "virtio-serial-device",
			"-chardev", "socket,id="+AgentID+",path="+optValue(spec.VsockPath)+",server=on,wait=off",
			"-device", "virtserialport,chardev="+AgentID+",name="+AgentPortName)
	}
	args = append(args,
		// The legacy -qmp syntax cannot escape a comma; validateLaunch
		// refuses runtime directories with one.
		"-qmp", "unix:"+QMPSocketPath(spec.RuntimeDir)+",server=on,wait=off",
		"-S")
	if spec.Restore {
		// The guest comes from a snapshot (Restore's migrate-incoming),
		// not from booting the kernel.
		args = append(args, "-incoming", "defer")
	}
	return args
}

// drive attaches the disk at path, of format (vmm.DiskRaw or
// vmm.DiskQCOW2), as a virtio-blk device, read-only when readOnly. A qcow2
// overlay's backing file (its image) is opened read-only, as qemu opens
// every backing file, with the format the overlay records.
func drive(id, path, format string, readOnly bool) []string {
	opts := "id=" + id + ",file=" + optValue(path) + ",format=" + format + ",if=none"
	if readOnly {
		opts += ",readonly=on"
	}
	return []string{"-drive", opts, "-device", "virtio-blk-device,drive=" + id}
}

// tcgNoRandMaps turns off address space layout randomization in a guest
// under TCG. TCG translates guest code into host code and, in QEMU 7.2
// (Debian 12's), reuses a translation only where the code runs at the same
// virtual address, so with ASLR every new process maps the dynamic loader
// and libc at fresh addresses and has them translated again: /bin/true took
// about 20 ms to fork and exec on the build machine, and 2.7-4 ms with
// norandmaps, the QEMU project's own advice for TCG guests. Boots run
// dozens of programs (systemd's generators, udev's helpers, fsck), so the
// time to a ready agent drops by about half a second, and a command such
// as make test in the guest runs several times faster. The price is the
// guest's own hardening of its processes against memory-corruption
// exploits; the VM boundary is not touched, and vmm.tcg_aslr = true keeps
// ASLR. KVM runs guest code natively and never gets the word.
const tcgNoRandMaps = "norandmaps"

// tscReliable is why a TCG guest that is given its TSC frequency also gets
// tsc=reliable. TCG's TSC is one counter for every vCPU (qemu reads the
// host's constant-rate TSC under a lock, so it never goes back between
// CPUs), but it does not advertise constant_tsc, and Linux assumes that a
// non-Intel machine with more than one CPU and no constant_tsc has
// unsynchronized TSCs (arch/x86/kernel/tsc.c, unsynchronized_tsc). It then
// runs on the jiffies clocksource: 4 ms clock resolution in the guest, and
// every clock_gettime a system call instead of a vDSO read. tsc=reliable
// keeps the TSC as the clocksource. Under KVM the guest has kvm-clock and
// gets neither word.
const tscReliable = "tsc=reliable"

// lpj is the loops_per_jiffy a kernel of timer frequency hz computes from
// a TSC of khz kHz (arch/x86/kernel/tsc.c: tsc_khz * 1000 / HZ, the
// boot CPU's value when it delays with the TSC). Given as lpj=, it is the
// value every CPU takes instead of calibrating its delay loop: the boot
// CPU would use the same number, and a secondary CPU without a constant
// TSC (TCG's) would otherwise measure it for tens of jiffies, 0.1-0.36 s
// of the distribution kernel's boot under emulation.
func lpj(khz, hz int) int { return int(int64(khz) * 1000 / int64(hz)) }

// optValue escapes a value inside a qemu option list, where a comma is
// written twice.
func optValue(s string) string { return strings.ReplaceAll(s, ",", ",,") }

// tscKHz is the host's TSC frequency in kHz, which TCG guests see as
// theirs (qemu reads the host's TSC), or 0 when unknown. It is read from
// /proc/cpuinfo's "cpu MHz" when the CPU has a constant TSC; a wrong value
// only makes the guest clock drift.
var tscKHz = sync.OnceValue(func() int {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return 0
	}
	return cpuinfoTSCKHz(string(b))
})

// cpuinfoTSCKHz reads the first CPU's "cpu MHz" from /proc/cpuinfo text,
// if its flags include constant_tsc.
func cpuinfoTSCKHz(cpuinfo string) int {
	var mhz float64
	constant := false
	for _, line := range strings.Split(cpuinfo, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			if strings.TrimSpace(line) == "" && mhz > 0 {
				break // end of the first CPU
			}
			continue
		}
		switch strings.TrimSpace(k) {
		case "cpu MHz":
			mhz, _ = strconv.ParseFloat(strings.TrimSpace(v), 64)
		case "flags":
			constant = slices.Contains(strings.Fields(v), "constant_tsc")
		}
	}
	if !constant || mhz <= 0 || mhz > 100000 {
		return 0
	}
	return int(mhz * 1000)
}
