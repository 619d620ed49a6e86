package qemu_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"banger/internal/process"
	"banger/internal/vmm"
	"banger/internal/vmm/qemu"
	"banger/internal/vmm/qemu/qemutest"
	"banger/internal/vmm/vmmproc"
	"banger/internal/vmm/vmmtest"
)

// Guest boots under TCG take seconds; these bound the waits generously.
const (
	bootTimeout     = 60 * time.Second
	shutdownTimeout = 60 * time.Second
	killTimeout     = 10 * time.Second
)

// guestSpec returns a bootable spec for a busybox guest with a work disk
// and the agent channel, under a short fresh directory (unix socket paths
// must stay under 108 bytes).
func guestSpec(t *testing.T) vmm.Spec {
	t.Helper()
	kernel := qemutest.Kernel(t)
	dir, run := vmmtest.Dirs(t, "qm")
	qemutest.Rootfs(t, filepath.Join(dir, "root.ext4"))
	qemutest.WorkDisk(t, filepath.Join(dir, "work.img"))
	return vmm.Spec{
		ID: "vm-" + strings.TrimPrefix(filepath.Base(dir), "qm"), VCPUs: 1, MemoryMiB: 128,
		Kernel: kernel, BootArgs: "console=ttyS0 reboot=k panic=1 pci=off",
		RootDisk: filepath.Join(dir, "root.ext4"), WorkDisk: filepath.Join(dir, "work.img"),
		VsockPath: filepath.Join(run, "agent.sock"), VsockCID: 3,
		RuntimeDir: run, ConsoleLog: filepath.Join(dir, "console.log"),
		VMMLog: filepath.Join(dir, "vmm.log"),
	}
}

func TestConformance(t *testing.T) {
	bin := qemutest.Binary(t)
	qemutest.Kernel(t) // skip before the suite if there is no kernel
	vmmtest.Run(t, vmmtest.Harness{
		Driver: qemu.New(qemu.Config{Binary: bin}), // Accel auto: the default path
		Spec:   guestSpec,
		MissingBinary: func(t *testing.T) vmm.Driver {
			return qemu.New(qemu.Config{Binary: filepath.Join(t.TempDir(), "qemu-system-x86_64")})
		},
		ConsoleReady:    qemutest.Ready,
		BootTimeout:     bootTimeout,
		ShutdownTimeout: shutdownTimeout,
	})
}

// distroSpec is guestSpec on Debian's cloud kernel with banger's
// initramfs, which finds its devices through ACPI.
func distroSpec(t *testing.T) vmm.Spec {
	t.Helper()
	spec := guestSpec(t)
	spec.Kernel, spec.Initrd = qemutest.DistroKernel(t)
	spec.ACPI = true
	return spec
}

// TestConformanceDistroKernel runs the driver's conformance suite on the
// distribution's kernel: microvm with ACPI, the initramfs loading the
// virtio modules.
func TestConformanceDistroKernel(t *testing.T) {
	bin := qemutest.Binary(t)
	qemutest.DistroKernel(t)
	vmmtest.Run(t, vmmtest.Harness{
		Driver: qemu.New(qemu.Config{Binary: bin}),
		Spec:   distroSpec,
		MissingBinary: func(t *testing.T) vmm.Driver {
			return qemu.New(qemu.Config{Binary: filepath.Join(t.TempDir(), "qemu-system-x86_64")})
		},
		ConsoleReady:    qemutest.Ready,
		BootTimeout:     bootTimeout,
		ShutdownTimeout: shutdownTimeout,
	})
}

// TestDistroGuestSeesRootAsVdaAndWorkAsVdb: with devices described in
// ACPI, the root disk is still vda (the DSDT lists devices in the order
// qemu creates them).
func TestDistroGuestSeesRootAsVdaAndWorkAsVdb(t *testing.T) {
	qemutest.Binary(t)
	spec := distroSpec(t)
	startGuest(t, qemu.New(qemu.Config{Accel: qemu.AccelTCG}), spec)
	got, err := qemutest.BlockDevices(waitConsole(t, spec, qemutest.Ready))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"vda:65536", "vdb:16384"}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("guest block devices = %v, want %v", got, want)
	}
}

// startGuest launches and boots spec on d, waits for the guest's ready
// line and returns the process; the process is killed when the test ends.
func startGuest(t *testing.T, d *qemu.Driver, spec vmm.Spec) vmm.Process {
	t.Helper()
	start := time.Now()
	p, err := d.Launch(context.Background(), spec)
	if err != nil {
		t.Fatalf("Launch: %v", err)
	}
	t.Cleanup(func() {
		if err := process.Kill(context.Background(), p.PID, p.StartTime, killTimeout); err != nil {
			t.Errorf("cleanup: kill pid %d: %v", p.PID, err)
		}
	})
	launched := time.Since(start)
	if err := d.Boot(context.Background(), spec, p); err != nil {
		t.Fatalf("Boot: %v", err)
	}
	waitConsole(t, spec, qemutest.Ready)
	t.Logf("launch %s, launch to console ready %s", launched.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	return p
}

// waitConsole waits until spec's console log holds want and returns it.
func waitConsole(t *testing.T, spec vmm.Spec, want string) string {
	t.Helper()
	deadline := time.Now().Add(bootTimeout)
	for {
		b, _ := os.ReadFile(spec.ConsoleLog)
		if strings.Contains(string(b), want) {
			return string(b)
		}
		if time.Now().After(deadline) {
			vmmLog, _ := os.ReadFile(spec.VMMLog)
			t.Fatalf("console has no %q after %s; console:\n%s\nvmm log:\n%s", want, bootTimeout, b, vmmLog)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestGuestSeesRootAsVdaAndWorkAsVdb(t *testing.T) {
	qemutest.Binary(t)
	spec := guestSpec(t)
	startGuest(t, qemu.New(qemu.Config{Accel: qemu.AccelTCG}), spec)
	console := waitConsole(t, spec, qemutest.Ready)
	got, err := qemutest.BlockDevices(console)
	if err != nil {
		t.Fatal(err)
	}
	// The guest booted from root=/dev/vda, so vda is the root filesystem
	// (the work disk holds no filesystem); the sizes pin both.
	want := []string{"vda:65536", "vdb:16384"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("guest block devices = %v, want %v", got, want)
	}
	if vmmLog, _ := os.ReadFile(spec.VMMLog); strings.Contains(console, "qemu-system") || strings.Contains(string(vmmLog), qemutest.Ready) {
		t.Errorf("console and vmm log are mixed up:\nconsole:\n%s\nvmm log:\n%s", console, vmmLog)
	}
}

func TestAgentChannelEchoes(t *testing.T) {
	qemutest.Binary(t)
	spec := guestSpec(t)
	d := qemu.New(qemu.Config{Accel: qemu.AccelTCG})
	startGuest(t, d, spec)
	waitConsole(t, spec, qemutest.AgentEchoing)
	// Twice: the channel serves a new connection after the first closes.
	for _, msg := range []string{"ping over virtio-serial\n", "second connection\n"} {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		conn, err := d.DialAgent(ctx, spec, vmm.AgentPort)
		cancel()
		if err != nil {
			t.Fatalf("DialAgent: %v", err)
		}
		_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
		if _, err := conn.Write([]byte(msg)); err != nil {
			t.Fatalf("write: %v", err)
		}
		buf := make([]byte, len(msg))
		n := 0
		for n < len(buf) {
			m, err := conn.Read(buf[n:])
			if err != nil {
				t.Fatalf("read echo after %q: %v", buf[:n], err)
			}
			n += m
		}
		conn.Close()
		if got := string(buf); got != msg {
			t.Errorf("echo = %q, want %q", got, msg)
		}
	}
}

func TestShutdownByCtrlAltDelete(t *testing.T) {
	qemutest.Binary(t)
	spec := guestSpec(t)
	d := qemu.New(qemu.Config{Accel: qemu.AccelTCG})
	p := startGuest(t, d, spec)
	if pids, err := process.FindByArg(p.APISocket); err != nil || len(pids) != 1 || pids[0] != p.PID {
		t.Errorf("FindByArg(%s) = %v, %v; want [%d]", p.APISocket, pids, err, p.PID)
	}
	start := time.Now()
	if err := d.Shutdown(context.Background(), p); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := process.WaitExit(context.Background(), p.PID, p.StartTime, shutdownTimeout); err != nil {
		t.Fatalf("qemu did not exit after Ctrl-Alt-Delete: %v", err)
	}
	t.Logf("shutdown to exit %s", time.Since(start).Round(time.Millisecond))
	if err := d.Shutdown(context.Background(), p); !errors.Is(err, vmm.ErrNotRunning) {
		t.Errorf("Shutdown after exit = %v, want ErrNotRunning", err)
	}
	if pids, _ := process.FindByArg(spec.RuntimeDir); len(pids) != 0 {
		t.Errorf("processes left behind: %v", pids)
	}
}

func TestCheckReportsAccelerator(t *testing.T) {
	bin := qemutest.Binary(t)
	d := qemu.New(qemu.Config{Binary: bin, ProbeKernel: qemutest.Kernel(t)})
	info, err := d.Check(context.Background())
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	t.Logf("Check: %+v", info)
	if info.Binary != bin {
		t.Errorf("Binary = %q, want %q", info.Binary, bin)
	}
	v, accel, ok := strings.Cut(info.Version, " (")
	if _, err := vmmproc.ParseVersion(v); err != nil || !ok {
		t.Fatalf("Version %q does not start with a qemu version and an accelerator", info.Version)
	}
	// On a host where /dev/kvm cannot run a kernel (like banger's build
	// machines) auto must fall back to TCG and say why.
	if strings.HasPrefix(accel, "tcg") && !strings.Contains(accel, "/dev/kvm") {
		t.Errorf("Version %q picks tcg without saying what is wrong with /dev/kvm", info.Version)
	}
	if accel != "kvm)" && !strings.HasPrefix(accel, "tcg: ") {
		t.Errorf("Version %q: accelerator part %q is neither kvm nor tcg with a reason", info.Version, accel)
	}
}
