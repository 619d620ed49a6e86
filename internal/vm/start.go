package vm

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"banger/internal/errdefs"
	"banger/internal/process"
	"banger/internal/store"
	"banger/internal/vmm"
)

// bootArgs is the guest kernel command line. The VMM adds the root device.
// cryptomgr.notests skips the self-tests a kernel with the crypto manager
// (a distribution's kernel; banger's built kernel has none) runs on every
// algorithm it registers while it boots: two thirds of the instructions
// Debian's cloud kernel runs before /init (counted with qemu -icount),
// seconds of CPU under software emulation. A kernel
// without the crypto manager ignores the word, and one booted with fips=1
// runs the tests anyway.
//
// loglevel=6 keeps the kernel's informational messages (most of its boot
// chatter: a hundred lines on banger's kernel, twice that on a
// distribution's) off the serial console, where every byte is an emulated
// device access the booting CPU waits on; notices, warnings and errors
// still print, the banner among them ("Linux version", which initError
// looks for), and the guest's dmesg keeps everything. Under software
// emulation it took 0.3 s off the built kernel's boot and 0.7 s off the
// distribution kernel's (kernels.md).
const bootArgs = "console=ttyS0 loglevel=6 reboot=k panic=1 pci=off cryptomgr.notests"

// distroBootArgs are added to bootArgs for a kernel fetched from the
// distribution (source "distro"), to boot it as banger's built kernel is
// configured (docs/kernels.md, "Boot time of the distribution kernel",
// has the measurements):
//
//   - init_on_alloc=0 stops it zeroing every page and object it allocates
//     (Debian turns INIT_ON_ALLOC_DEFAULT_ON on; the built kernel has it
//     off), which under software emulation was most of the extra
//     instructions that kernel ran between its root mount and a mounted
//     /root (counted with qemu -icount).
//   - The systemd.mask= words keep systemd from mounting the file systems
//     the built kernel does not have (no debugfs, tracefs or hugetlbfs in
//     its config, so on it these units' conditions fail and they never
//     run): /sys/kernel/debug, /sys/kernel/tracing and /dev/hugepages. A
//     developer who wants them mounts them by hand (mount -t debugfs none
//     /sys/kernel/debug). systemd reads the words (systemd-debug-generator,
//     Debian 12's systemd 252 has it); the kernel ignores them.
//   - 8250.nr_uarts=1: a banger VM has one serial port (ttyS0, the
//     console); Debian registers four, so the kernel probes and udev
//     handles three ports that are not there. The built kernel has one.
//   - initcall_blacklist=crypto_kdf108_init,init_kprobe_trace skips two
//     boot steps that only cost time here: the first is the self-test of
//     the SP800-108 key derivation (cryptomgr.notests does not cover it;
//     the functions stay), the second creates tracefs's kprobe_events
//     files (tracefs is not mounted, above; perf and bpftrace attach
//     kprobes through the perf kprobe PMU, which stays).
//   - lsm=landlock,lockdown,yama,integrity: the security modules the
//     built kernel has (none beyond capabilities) plus the ones that cost
//     nothing until configured. AppArmor, TOMOYO and the BPF LSM, which
//     Debian turns on, each add an indirect call to every security hook
//     (every open, exec, mmap...): with no profile or policy loaded in a
//     banger image they check nothing, and under software emulation they
//     made every process start measurably slower. A sandbox is a
//     single-user machine; the VM boundary is what isolates it.
//   - mitigations=off randomize_kstack_offset=off hardened_usercopy=off
//     psi=0 noautogroup: the guest kernel's defences of itself and its
//     processes against its own users (CPU speculation mitigations, a
//     random kernel stack offset per system call, bounds checks on copies
//     to and from user memory), pressure stall accounting on every task
//     switch and a scheduler group per session, none of which the built
//     kernel has (allnoconfig leaves CPU_MITIGATIONS,
//     RANDOMIZE_KSTACK_OFFSET, HARDENED_USERCOPY, PSI and SCHED_AUTOGROUP
//     off). A banger guest's user is root, who can read and change the
//     guest kernel anyway; what isolates the guest is the VM boundary,
//     which the host kernel's and the VMM's own mitigations defend and
//     these words do not touch.
const distroBootArgs = "init_on_alloc=0 systemd.mask=sys-kernel-debug.mount systemd.mask=sys-kernel-tracing.mount systemd.mask=dev-hugepages.mount " +
	"8250.nr_uarts=1 initcall_blacklist=crypto_kdf108_init,init_kprobe_trace lsm=landlock,lockdown,yama,integrity " +
	"mitigations=off randomize_kstack_offset=off hardened_usercopy=off psi=0 noautogroup"

// bootForSource adds to spec what a kernel from source (a store kernel
// record's, "" for none) with timer frequency hz (0 if unknown) boots
// with: a distribution kernel gets distroBootArgs and its HZ, from which
// the qemu driver under TCG derives lpj=; any other kernel nothing.
func bootForSource(spec *vmm.Spec, source string, hz int) {
	if source != "distro" {
		return
	}
	spec.BootArgs += " " + distroBootArgs
	spec.KernelHZ = hz
}

// guestCID is every guest's vsock context id: each VMM has its own vsock
// device, so the ids need not differ between VMs.
const guestCID = 3

// maxConsoleLog is the size past which the console log is rotated at start.
const maxConsoleLog = 8 << 20

// Start boots a stopped VM. Starting a running VM is a no-op.
func (s *Service) Start(ctx context.Context, opID, ref string, progress Progress) (VM, error) {
	rec, unlock, err := s.lockVM(ctx, ref)
	if err != nil {
		return VM{}, err
	}
	defer unlock()
	if State(rec.State) == StateRunning {
		return s.toVM(ctx, rec), nil
	}
	if State(rec.State) == StatePaused {
		return VM{}, errPaused(rec)
	}
	if State(rec.State) != StateStopped && State(rec.State) != StateError {
		return VM{}, errdefs.FailedPreconditionf("VM %s is %s: wait for it to finish, then try again", rec.Name, rec.State)
	}
	img, err := s.store.GetImage(ctx, rec.ImageID)
	if err != nil {
		return VM{}, fmt.Errorf("image of VM %s: %w", rec.Name, err)
	}
	o, err := s.newOp(ctx, opID, "vm.start", rec.ID, rec.Name, progress)
	if err != nil {
		return VM{}, err
	}
	if err := o.run(ctx, s.startSteps(&rec, img)); err != nil {
		return VM{}, err
	}
	s.publishState(rec)
	return s.toVM(ctx, rec), nil
}

// VMMSpec is the VMM configuration of VM rec booting image img, before the
// network is attached (see NetAttachment.Apply). The benchmarks' floor
// builds its machine with it, so that it boots what banger boots.
func VMMSpec(rec store.VM, img store.Image) vmm.Spec {
	spec := vmm.Spec{
		ID:          rec.ID,
		VCPUs:       rec.VCPUs,
		MemoryMiB:   rec.MemoryMiB,
		Kernel:      img.Kernel,
		Initrd:      img.Initrd,
		BootArgs:    bootArgs,
		RootDisk:    filepath.Join(rec.Dir, rootDiskFile),
		WorkDisk:    filepath.Join(rec.Dir, workDiskFile),
		RuntimeDir:  rec.RuntimeDir,
		VsockPath:   filepath.Join(rec.RuntimeDir, vsockFile),
		VsockCID:    guestCID,
		ConsoleLog:  filepath.Join(rec.Dir, consoleLogFile),
		VMMLog:      filepath.Join(rec.Dir, vmmLogFile),
		MetricsPath: filepath.Join(rec.RuntimeDir, metricsFile),
	}
	if readsIdentityDisk(img) {
		spec.IdentityDisk = filepath.Join(rec.Dir, identityFile)
	}
	return spec
}

// startSteps is the start plan. A restarted daemon that finds a VM still
// "starting" runs all the undo functions in reverse.
func (s *Service) startSteps(rec *store.VM, img store.Image) []step {
	spec := VMMSpec(*rec, img)
	var proc vmm.Process
	steps := []step{
		{
			name: "mark-starting",
			do: func(ctx context.Context) error {
				rec.Driver = s.driver.Name()
				return s.setState(ctx, rec, StateStarting)
			},
			undo: func(ctx context.Context) error {
				rec.PID, rec.PIDStart = 0, 0
				return s.setState(ctx, rec, StateStopped)
			},
		},
		s.prepareRuntimeStep(rec, img, &spec, true),
		s.identityStep(rec, &spec),
		s.attachStep(rec, &spec),
		{
			name: "launch-vmm",
			do: func(ctx context.Context) error {
				p, err := s.driver.Launch(ctx, spec)
				if err != nil {
					return err
				}
				proc = p
				rec.PID, rec.PIDStart = p.PID, p.StartTime
				return s.store.UpdateVM(context.WithoutCancel(ctx), *rec)
			},
			undo: func(ctx context.Context) error { return s.killVMM(ctx, *rec) },
		},
		{
			name: "boot",
			do:   func(ctx context.Context) error { return s.driver.Boot(ctx, spec, proc) },
		},
		{
			name: "mark-running",
			do: func(ctx context.Context) error {
				rec.StartedAt = time.Now()
				rec.LastError = ""
				return s.setState(ctx, rec, StateRunning)
			},
		},
	}
	if _, ok := s.disks.(RootDevices); ok {
		// The root disk becomes a device before anything writes it or
		// the VMM opens it: right after prepare-runtime.
		steps = slices.Insert(steps, 2, s.attachRootStep(rec, &spec))
	}
	return steps
}

// checkFiles reports image files that went missing since registration.
func checkFiles(img store.Image, spec vmm.Spec) error {
	for _, f := range []string{img.Kernel, img.Initrd, spec.RootDisk, spec.WorkDisk} {
		if f == "" {
			continue
		}
		st, err := os.Stat(f)
		if err != nil {
			return errdefs.FailedPreconditionf("%s is missing (%w): re-register image %s or recreate the VM", f, err, img.Name)
		}
		// The VMM opens these files itself: a FIFO or device swapped in
		// for one would hang it.
		if !st.Mode().IsRegular() {
			return errdefs.FailedPreconditionf("%s is no longer a regular file (mode %v): put the file back, re-register image %s or recreate the VM", f, st.Mode().Type(), img.Name)
		}
	}
	return nil
}

// rotateLog keeps one previous console log once it grows large.
func rotateLog(path string) {
	if fi, err := os.Stat(path); err == nil && fi.Size() > maxConsoleLog {
		_ = os.Rename(path, path+".1")
	}
}

// killVMM kills the VMM of rec, found by its recorded pid and start time
// or, when the daemon died before recording them, by its API socket path on
// the command line, and waits for it to exit.
func (s *Service) killVMM(ctx context.Context, rec store.VM) error {
	var errs []error
	if rec.PID > 0 {
		errs = append(errs, process.Kill(ctx, rec.PID, rec.PIDStart, killWait))
	}
	if rec.APISocket != "" {
		pids, err := process.FindByArg(rec.APISocket)
		errs = append(errs, err)
		for _, pid := range pids {
			errs = append(errs, process.Kill(ctx, pid, 0, killWait))
		}
	}
	return errors.Join(errs...)
}

// setState writes rec with a new state and publishes the change.
func (s *Service) setState(ctx context.Context, rec *store.VM, state State) error {
	rec.State = string(state)
	if err := s.store.UpdateVM(context.WithoutCancel(ctx), *rec); err != nil {
		return err
	}
	s.publishState(*rec)
	return nil
}

func (s *Service) publishState(rec store.VM) {
	s.events.Publish(Event{Type: EventVM, Time: time.Now(), Target: rec.Name, State: State(rec.State)})
}

// lockVM looks ref up, locks the VM and re-reads it under the lock.
func (s *Service) lockVM(ctx context.Context, ref string) (store.VM, func(), error) {
	rec, err := s.store.GetVM(ctx, ref)
	if err != nil {
		return store.VM{}, nil, err
	}
	unlock := s.locks.lock(rec.ID)
	rec, err = s.store.GetVM(ctx, rec.ID)
	if err != nil {
		unlock()
		return store.VM{}, nil, err
	}
	return rec, unlock, nil
}

// prepareRuntimeStep checks the files spec boots from, completes spec with
// what the store knows of them (the kernel's device discovery, the root
// disk's recorded format) and makes the VM's runtime directory afresh;
// rotate first moves the previous console log aside (a boot; a restore
// keeps appending). Undone by removing the runtime directory.
func (s *Service) prepareRuntimeStep(rec *store.VM, img store.Image, spec *vmm.Spec, rotate bool) step {
	return step{
		name: "prepare-runtime",
		do: func(ctx context.Context) error {
			if err := checkFiles(img, *spec); err != nil {
				return err
			}
			// A kernel that finds virtio-mmio devices only through
			// ACPI needs the VMM to describe them there.
			d, err := s.store.KernelDiscovery(ctx, img.Kernel)
			if err != nil {
				return err
			}
			spec.ACPI = d == "acpi"
			src, err := s.store.KernelSource(ctx, img.Kernel)
			if err != nil {
				return err
			}
			hz, err := s.store.KernelHZ(ctx, img.Kernel)
			if err != nil {
				return err
			}
			bootForSource(spec, src, hz)
			// A clone keeps the format its disk was recorded with (a
			// qcow2 overlay stays one).
			if spec.RootDiskFormat, err = s.disks.RootDiskFormat(spec.RootDisk); err != nil {
				return err
			}
			if rotate {
				rotateLog(spec.ConsoleLog)
			}
			if err := os.RemoveAll(rec.RuntimeDir); err != nil {
				return err
			}
			// The VMM drivers require it to exist, private: make it
			// without following anything planted below the root.
			return s.dirs.MakeDir(rec.RuntimeDir)
		},
		undo: func(ctx context.Context) error { return os.RemoveAll(rec.RuntimeDir) },
	}
}
