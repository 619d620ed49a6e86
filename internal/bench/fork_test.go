package bench

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"banger/internal/api"
)

// forkCopies is how many copies BenchmarkFork makes, and how many VMs it
// cold-boots beside them: the figure is a fork into 10.
const forkCopies = 10

// forkBenchTimeout bounds BenchmarkFork: under software emulation ten
// restores and ten cold boots take minutes.
const forkBenchTimeout = 20 * time.Minute

// BenchmarkFork forks one ready VM (the real bangerd, qemu driver, the
// disk strategy auto picks for the state directory) into forkCopies
// copies with vm fork, which makes them concurrently, and reports the
// total time, the time per copy and the disk space each copy and the
// fork's snapshot allocate; then, in the same run, it makes forkCopies
// VMs of the same image and shape by cold boot (created and started at
// once, each waited for until its agent is ready) for comparison.
func BenchmarkFork(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), forkBenchTimeout)
	defer cancel()
	w := newGuestWorld(b)
	w.startDaemon(ctx)
	w.registerImage(ctx)
	strategy := "?"
	if in, err := w.client.Info(ctx); err == nil {
		strategy = in.DiskStrategy + " (" + in.DiskStrategyWhy + ")"
	}
	if _, err := w.client.CreateVM(ctx, api.CreateVMRequest{Name: "src", Image: imageName, Start: true}, nil); err != nil {
		b.Fatalf("create src: %v\ndaemon log:\n%s", err, w.daemonLog())
	}
	if _, err := w.client.WaitVM(ctx, "src", 3*time.Minute); err != nil {
		b.Fatalf("wait for src: %v", err)
	}
	lines := []string{"root disks: " + strategy}
	for round := range b.N {
		t0 := time.Now()
		copies, err := w.client.ForkVM(ctx, "src", api.ForkVMRequest{Name: fmt.Sprintf("r%d", round), Count: forkCopies}, nil)
		took := time.Since(t0)
		if err != nil {
			b.Fatalf("vm fork: %v\ndaemon log:\n%s", err, lastLines(w.daemonLog(), 20))
		}
		lines = append(lines, fmt.Sprintf("vm fork src -n %d (qemu, %s): %s in all, %s per copy, each ready (re-identified)",
			forkCopies, accelOf(copies), took.Round(time.Millisecond), (took/time.Duration(len(copies))).Round(time.Millisecond)))
		var sum int64
		for _, c := range copies {
			n := allocated(c.Dir)
			sum += n
			lines = append(lines, fmt.Sprintf("  %-10s allocates %5d MiB (its directory: disks cloned from the snapshot's through the disk strategy, identity disk, logs)", c.Name, n>>20))
		}
		lines = append(lines, fmt.Sprintf("  per copy on average: %d MiB", sum/int64(len(copies))>>20))
		if sn, err := w.client.GetSnapshot(ctx, copies[0].Snapshot); err == nil {
			lines = append(lines, fmt.Sprintf("  snapshot %s allocates %d MiB (qemu's migration stream and the disk copies)", sn.Name, sn.SizeBytes>>20))
		}
		for _, c := range copies {
			if err := w.client.DeleteVM(ctx, c.Name, nil); err != nil {
				b.Fatalf("delete %s: %v", c.Name, err)
			}
		}
		lines = append(lines, coldBoots(ctx, b, w, fmt.Sprintf("c%d", round))...)
	}
	printFigures(b, strings.Join(lines, "\n")+fmt.Sprintf("\n(%d copies under TCG software emulation here; on KVM a restore is a fraction of a second)", forkCopies))
}

// coldBoots creates and starts forkCopies VMs named prefix-1... at once,
// waits for each to be ready, reports the time and space, and deletes
// them.
func coldBoots(ctx context.Context, b *testing.B, w *world, prefix string) []string {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
		vms  []api.VM
	)
	t0 := time.Now()
	for i := range forkCopies {
		wg.Go(func() {
			name := fmt.Sprintf("%s-%d", prefix, i+1)
			v, err := w.client.CreateVM(ctx, api.CreateVMRequest{Name: name, Image: imageName, Start: true}, nil)
			if err == nil {
				_, err = w.client.WaitVM(ctx, name, 10*time.Minute)
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", name, err))
				return
			}
			vms = append(vms, v)
		})
	}
	wg.Wait()
	took := time.Since(t0)
	if err := errors.Join(errs...); err != nil {
		b.Fatalf("cold boots: %v\ndaemon log:\n%s", err, lastLines(w.daemonLog(), 20))
	}
	var sum int64
	for _, v := range vms {
		sum += allocated(v.Dir)
	}
	out := []string{fmt.Sprintf("the same %d VMs by cold boot (vm create --start of each at once, waited for until ready): %s in all, %s per VM, %d MiB each on average",
		forkCopies, took.Round(time.Millisecond), (took / forkCopies).Round(time.Millisecond), sum/int64(len(vms))>>20)}
	for _, v := range vms {
		if err := w.client.DeleteVM(ctx, v.Name, nil); err != nil {
			b.Fatalf("delete %s: %v", v.Name, err)
		}
	}
	return out
}

// accelOf names the accelerator, which the figures depend on.
func accelOf(copies []api.VM) string {
	if len(copies) == 0 {
		return "?"
	}
	argv, err := cmdline(copies[0].PID)
	if err != nil {
		return "?"
	}
	return argAfter(argv, "-accel")
}

// allocated is the bytes the regular files under dir take on disk.
func allocated(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, e fs.DirEntry, err error) error {
		if err != nil || !e.Type().IsRegular() {
			return nil
		}
		if fi, err := e.Info(); err == nil {
			if st, ok := fi.Sys().(*syscall.Stat_t); ok {
				n += st.Blocks * 512
			}
		}
		return nil
	})
	return n
}
