package bench

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"banger/internal/api"
	"banger/internal/imagebuild/imagetest"
	"banger/internal/kernelbuild/kerneltest"
	"banger/internal/testtier"
)

// Real-guest benchmark parameters: the same VM size as the end-to-end
// guest tests.
const (
	qemuBin     = "qemu-system-x86_64"
	guestVCPUs  = 2
	guestMemory = 512     // MiB
	guestDisk   = 1 << 30 // work disk
	// guestBenchTimeout bounds a benchmark that boots real guests under
	// software emulation, where one boot takes 10-30 s.
	guestBenchTimeout = 6 * time.Minute
)

// newGuestWorld is a world whose daemon boots real guests with the qemu
// driver: its image is the default image imagetest builds once per
// machine, with the kernel kerneltest builds.
func newGuestWorld(tb testing.TB) *world {
	tb.Helper()
	// Warm start off: every vm run of these benchmarks boots.
	return newGuestWorldWarm(tb, false)
}

// newGuestWorldWarm is newGuestWorld with vm.warm_start as given.
func newGuestWorldWarm(tb testing.TB, warmStart bool) *world {
	tb.Helper()
	testtier.Guest(tb)
	kernel := kerneltest.Vmlinux(tb)
	rootfs := imagetest.RootFS(tb)
	w := newWorld(tb)
	w.kernel, w.rootfs = kernel, rootfs
	// The stop timeout is left at its default: vm run --rm waits for it
	// when the guest does not shut down.
	cfg := fmt.Sprintf("[vmm]\ndriver = \"qemu\"\n\n"+
		"[vm]\nvcpus = %d\nmemory = \"%dM\"\ndisk_size = \"%dM\"\nimage = %q\nwarm_start = %v\n",
		guestVCPUs, guestMemory, guestDisk>>20, imageName, warmStart)
	if err := os.WriteFile(w.path("config/banger/config.toml"), []byte(cfg), 0o600); err != nil {
		tb.Fatalf("write config: %v", err)
	}
	return w
}

// warmUp creates and starts one VM and kills it at once, so that the
// daemon's once-per-daemon work (the accelerator probe at the first launch,
// the work-disk template of the size) is not in the samples, and returns
// the accelerator the daemon gave qemu and how long it took.
func (w *world) warmUp(ctx context.Context) (accel string, took time.Duration) {
	w.tb.Helper()
	const name = "warm-up"
	t0 := time.Now()
	v, err := w.client.CreateVM(ctx, api.CreateVMRequest{Name: name, Image: imageName, Start: true}, nil)
	if err != nil {
		w.tb.Fatalf("warm-up: create and start a VM: %v\ndaemon log:\n%s", err, w.daemonLog())
	}
	took = time.Since(t0)
	argv, err := cmdline(v.PID)
	if err != nil {
		w.tb.Fatalf("warm-up: %v", err)
	}
	accel = argAfter(argv, "-accel")
	if accel == "" {
		w.tb.Fatalf("warm-up: qemu pid %d has no -accel argument: %q", v.PID, argv)
	}
	if _, err := w.client.KillVM(ctx, name, nil); err != nil {
		w.tb.Fatalf("warm-up: kill VM: %v", err)
	}
	if err := w.client.DeleteVM(ctx, name, nil); err != nil {
		w.tb.Fatalf("warm-up: delete VM: %v", err)
	}
	return accel, took
}

// cmdline is the command line of process pid.
func cmdline(pid int) ([]string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return nil, fmt.Errorf("read the command line of pid %d: %w", pid, err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00"), nil
}

// argAfter returns the argument that follows flag in args, or "".
func argAfter(args []string, flag string) string {
	for i := 0; i+1 < len(args); i++ {
		if args[i] == flag {
			return args[i+1]
		}
	}
	return ""
}
