package qemu

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"banger/internal/vmm/vmmproc"
)

// kvmDevice is the KVM device node.
const kvmDevice = "/dev/kvm"

// KVM ioctls: _IO(KVMIO, 0x00) and _IO(KVMIO, 0x01).
const (
	kvmGetAPIVersion = 0xAE00
	kvmCreateVM      = 0xAE01
	kvmAPIVersion    = 12 // the only stable KVM API version
)

// probeTimeout bounds the probe boot. A kernel under working KVM prints
// its banner within a fraction of a second (even TCG needs about one);
// where KVM is broken it prints nothing at all.
const probeTimeout = 3 * time.Second

// kernelBanner is the first line Linux prints ("Linux version 6.1...").
const kernelBanner = "Linux version"

// openKVM checks that this process can use KVM: /dev/kvm opens read-write,
// speaks API version 12 and creates a VM.
func openKVM() error {
	fd, err := unix.Open(kvmDevice, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("%s: %w", kvmDevice, err)
	}
	defer unix.Close(fd)
	v, err := unix.IoctlRetInt(fd, kvmGetAPIVersion)
	if err != nil {
		return fmt.Errorf("%s: KVM_GET_API_VERSION: %w", kvmDevice, err)
	}
	if v != kvmAPIVersion {
		return fmt.Errorf("%s: KVM API version %d, want %d", kvmDevice, v, kvmAPIVersion)
	}
	vm, err := unix.IoctlRetInt(fd, kvmCreateVM)
	if err != nil {
		return fmt.Errorf("%s cannot create VMs: KVM_CREATE_VM: %w", kvmDevice, err)
	}
	unix.Close(vm)
	return nil
}

// probeBootArgs is the command line of the probe boot: kernel alone, no
// disks, the console on stdout; the kernel panics for want of a root
// filesystem and -no-reboot turns its reboot into an exit.
func probeBootArgs(kernel string) []string {
	return []string{
		"-M", "microvm,acpi=off,x-option-roms=off",
		"-accel", "kvm", "-cpu", "max", "-m", "128M", "-smp", "1",
		"-nodefaults", "-no-user-config", "-nographic", "-no-reboot",
		"-kernel", kernel,
		"-append", "console=ttyS0 reboot=k panic=-1 pci=off",
		"-chardev", "stdio,id=con,signal=off", "-serial", "chardev:con",
	}
}

// probeBootKVM boots kernel under KVM and returns nil once it prints its
// banner. It returns a kvmBootError when KVM fails the guest, and wraps
// errProbeInconclusive when the probe says nothing about KVM (qemu could
// not start or load the kernel).
func probeBootKVM(ctx context.Context, bin, kernel string) error {
	cmd := exec.Command(bin, probeBootArgs(kernel)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("%w: %v", errProbeInconclusive, err)
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("%w: start %s: %v", errProbeInconclusive, bin, err)
	}
	banner := make(chan struct{})
	readDone := make(chan struct{})
	go func() { // ends at EOF, when qemu exits
		defer close(readDone)
		found := false
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if !found && strings.Contains(sc.Text(), kernelBanner) {
				found = true
				close(banner)
			}
		}
	}()
	timer := time.NewTimer(probeTimeout)
	defer timer.Stop()
	var result error
	exitedEarly := false
	select {
	case <-banner:
	case <-readDone:
		exitedEarly = true
	case <-timer.C:
		result = kvmBootError("a probe boot of %s printed nothing within %s under KVM", kernel, probeTimeout)
	case <-ctx.Done():
		result = fmt.Errorf("%w: %v", errProbeInconclusive, ctx.Err())
	}
	_ = cmd.Process.Signal(os.Kill)
	<-readDone
	_ = cmd.Wait() // also finishes copying stderr
	if exitedEarly {
		msg := strings.TrimSpace(stderr.String())
		if strings.Contains(strings.ToLower(msg), "kvm") {
			return kvmBootError("qemu failed the probe guest: %s", vmmproc.Excerpt(msg, 300))
		}
		return fmt.Errorf("%w: qemu exited before the kernel printed anything: %s", errProbeInconclusive, vmmproc.Excerpt(msg, 300))
	}
	return result
}

// lockedBuffer is a bytes.Buffer safe for the writer goroutine exec
// starts and a reader.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buf.Len() > 64<<10 {
		return len(p), nil // enough to explain a failure
	}
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
