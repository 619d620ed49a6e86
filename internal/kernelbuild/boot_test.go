package kernelbuild_test

import (
	"bytes"
	"context"
	"debug/elf"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"banger/internal/kernelbuild"
	"banger/internal/kernelbuild/kerneltest"
	"banger/internal/testtier"
)

// TestRealKernelBootsUnderQEMU boots the banger kernel with no root disk on
// qemu's microvm machine, as the qemu driver will: it must get as far as
// looking for its root filesystem.
func TestRealKernelBootsUnderQEMU(t *testing.T) {
	testtier.Guest(t)
	qemu, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		t.Skip("needs qemu-system-x86_64: apt-get install qemu-system-x86")
	}
	vmlinux := kerneltest.Vmlinux(t)
	console := bootConsole(t, qemu, vmlinux)
	for _, want := range []string{"Linux version " + kerneltest.Version(t), "VFS: Unable to mount root fs"} {
		if !strings.Contains(console, want) {
			t.Errorf("console does not show %q:\n%s", want, tail(console, 40))
		}
	}
}

// bootConsole runs qemu for at most 60 s and returns the serial console.
func bootConsole(t *testing.T, qemu, kernel string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, qemu,
		"-M", "microvm,acpi=off", "-accel", "tcg", "-m", "256",
		"-nodefaults", "-no-user-config", "-nographic", "-no-reboot",
		"-kernel", kernel, "-append", "console=ttyS0 reboot=t panic=-1",
		"-serial", "stdio")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("qemu did not finish booting within 60 s:\n%s", tail(out.String(), 40))
	}
	if err != nil {
		t.Logf("qemu: %v", err)
	}
	t.Logf("booted to the root-fs panic in %s", time.Since(start).Round(10*time.Millisecond))
	return out.String()
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// TestUnpackRealBzImage unpacks the built bzImage and checks it is the
// same kernel as the built vmlinux: same entry point and loadable segments.
func TestUnpackRealBzImage(t *testing.T) {
	testtier.Guest(t) // builds the banger kernel
	bz, want := kerneltest.BzImage(t), kerneltest.Vmlinux(t)
	got := filepath.Join(t.TempDir(), "vmlinux")
	if err := kernelbuild.Unpack(bz, got); err != nil {
		t.Fatalf("Unpack: %v", err)
	}
	if diff := cmp.Diff(layout(t, want), layout(t, got)); diff != "" {
		t.Errorf("unpacked kernel differs from vmlinux (-want +got):\n%s", diff)
	}
}

type segment struct{ Vaddr, Paddr, Filesz, Memsz uint64 }

type elfLayout struct {
	Entry    uint64
	Machine  elf.Machine
	Segments []segment
}

func layout(t *testing.T, path string) elfLayout {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	l := elfLayout{Entry: f.Entry, Machine: f.Machine}
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD {
			l.Segments = append(l.Segments, segment{p.Vaddr, p.Paddr, p.Filesz, p.Memsz})
		}
	}
	return l
}
