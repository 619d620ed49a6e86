package cow

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"banger/internal/initramfs"
	"banger/internal/initramfs/initlayout"
	"banger/internal/kernelbuild"
	"banger/internal/kernelbuild/kerneltest"
	"banger/internal/testtier"
)

// guestEnv marks this test binary running as a guest's init: it loads the
// initramfs's modules, mounts what tests need and runs the tests named on
// the kernel command line (after "--").
const guestEnv = "BANGER_COW_GUEST"

// guestDone is the line the guest prints before it powers off.
const guestDone = "BANGER-COW-GUEST-EXIT "

func TestMain(m *testing.M) {
	if os.Getpid() == 1 && os.Getenv(guestEnv) == "1" {
		if err := guestSetup(); err != nil {
			fmt.Printf("guest setup: %v\n%s%d\n", err, guestDone, 2)
		} else {
			code := m.Run()
			fmt.Printf("%s%d\n", guestDone, code)
		}
		unix.Sync()
		unix.Reboot(unix.LINUX_REBOOT_CMD_RESTART) // qemu -no-reboot exits
		select {}
	}
	os.Exit(m.Run())
}

// guestSetup mounts /dev, /proc, /sys and a /tmp, and loads the modules
// the initramfs lists, in order.
func guestSetup() error {
	for _, m := range []struct{ fs, dir string }{{"devtmpfs", "/dev"}, {"proc", "/proc"}, {"sysfs", "/sys"}, {"tmpfs", "/tmp"}} {
		if err := os.MkdirAll(m.dir, 0o755); err != nil {
			return err
		}
		if err := unix.Mount(m.fs, m.dir, m.fs, 0, ""); err != nil && err != unix.EBUSY {
			return fmt.Errorf("mount %s on %s: %w", m.fs, m.dir, err)
		}
	}
	list, err := os.ReadFile("/" + initramfs.ModuleList)
	if err != nil {
		return err
	}
	// The list is in load order: each module after its dependencies.
	for _, e := range initlayout.ParseList(string(list)) {
		name := e.File
		f, err := os.Open(filepath.Join("/", initramfs.ModuleDir, name))
		if err != nil {
			return err
		}
		err = unix.FinitModule(int(f.Fd()), "", 0)
		f.Close()
		if err != nil && err != unix.EEXIST {
			return fmt.Errorf("load %s: %w", name, err)
		}
	}
	os.Setenv("TMPDIR", "/tmp")
	return nil
}

// TestDMInGuest runs the conformance suite and the dm tests as root in a
// guest on Debian's cloud kernel with device-mapper loaded: this host's
// kernel may have none. The test binary is the guest's init.
func TestDMInGuest(t *testing.T) {
	testtier.Guest(t)
	if os.Getenv(guestEnv) != "" {
		t.Skip("already in the guest")
	}
	qemu, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		t.Skip("needs qemu-system-x86_64")
	}
	kerneltest.Distro(t) // the package is in the test cache
	cache, err := kerneltest.DistroCacheDir()
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	if err := os.MkdirAll(filepath.Join(work, "debs"), 0o755); err != nil {
		t.Fatal(err)
	}
	debs, _ := filepath.Glob(filepath.Join(cache, "debs", "*.deb"))
	for _, d := range debs {
		if err := os.Symlink(d, filepath.Join(work, "debs", filepath.Base(d))); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(work, "cow.test")
	build := exec.Command("go", "test", "-c", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the test binary: %v\n%s", err, out)
	}
	res, err := kernelbuild.Distro(context.Background(), kernelbuild.DistroOptions{
		WorkDir: work, Init: bin, Modules: []string{"loop", "dm_mod", "dm_snapshot"},
	}, nil)
	if err != nil {
		t.Fatalf("initramfs with device-mapper: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	run := "^(TestConformance|TestDM)"
	// Debian's kernel finds devices through ACPI; under TCG it needs its
	// TSC frequency given (as the qemu driver does), or its boot waits.
	// One vCPU: with two, the kernel finds their TSCs unsynchronized and
	// falls back to a jiffies clock too coarse for the figure.
	tsc := ""
	if khz := cpuKHz(t); khz > 0 {
		tsc = fmt.Sprintf(" tsc_early_khz=%d", khz)
	}
	cmd := exec.CommandContext(ctx, qemu,
		"-M", "microvm,acpi=on,x-option-roms=off,rtc=on", "-accel", "tcg", "-cpu", "max", "-m", "768", "-smp", "1",
		"-nodefaults", "-no-user-config", "-nographic", "-no-reboot",
		"-kernel", res.Vmlinux, "-initrd", res.Initrd,
		"-append", "console=ttyS0 reboot=t panic=-1"+tsc+" "+guestEnv+"=1 -- -test.v -test.count=1 -test.run="+run+" -test.bench=^BenchmarkDMClone$ -test.benchtime=20x",
		"-serial", "stdio")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil && ctx.Err() != nil {
		t.Fatalf("the guest did not finish in 5 minutes:\n%s", out.String())
	}
	console := out.String()
	m := regexp.MustCompile(guestDone + `(\d+)`).FindStringSubmatch(console)
	if m == nil {
		t.Fatalf("the guest printed no result:\n%s", console)
	}
	ran := 0
	sc := bufio.NewScanner(strings.NewReader(console))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "--- PASS: ") && strings.Contains(line, "/"+NameDM) || strings.HasPrefix(line, "--- PASS: TestDM") {
			ran++
		}
		if strings.HasPrefix(line, "--- SKIP: ") && strings.Contains(line, NameDM) {
			t.Errorf("in the guest: %s", line)
		}
	}
	t.Logf("guest console:\n%s", console)
	if b := regexp.MustCompile(`BenchmarkDMClone(-\d+)?\s+\d+\s.*`).FindString(console); b != "" {
		t.Logf("figure, in the guest (qemu TCG, Debian's kernel): %s", strings.TrimSpace(b))
	} else {
		t.Errorf("the guest printed no BenchmarkDMClone figure")
	}
	if m[1] != "0" {
		t.Fatalf("the tests failed in the guest (exit %s)", m[1])
	}
	if ran < 5 {
		t.Errorf("only %d dm tests passed in the guest, want the conformance suite and the dm tests", ran)
	}
}

// cpuKHz is the host's "cpu MHz" in kHz (0 when unknown).
func cpuKHz(t *testing.T) int {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "cpu MHz" {
			var mhz float64
			if _, err := fmt.Sscanf(strings.TrimSpace(v), "%f", &mhz); err == nil {
				return int(mhz * 1000)
			}
		}
	}
	return 0
}
