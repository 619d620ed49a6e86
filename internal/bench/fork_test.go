package bench

import (
	"context"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"banger/internal/api"
)

// forkCopies is how many copies BenchmarkFork makes: 3 under software
// emulation, where each restore and re-identification takes seconds.
const forkCopies = 3

// BenchmarkFork forks one ready VM (the real bangerd, qemu driver) into
// forkCopies copies with vm fork and reports the total time, the time per
// copy, and the disk space each copy and the fork's snapshot allocate.
func BenchmarkFork(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), guestBenchTimeout)
	defer cancel()
	w := newGuestWorld(b)
	w.startDaemon(ctx)
	w.registerImage(ctx)
	if _, err := w.client.CreateVM(ctx, api.CreateVMRequest{Name: "src", Image: imageName, Start: true}, nil); err != nil {
		b.Fatalf("create src: %v\ndaemon log:\n%s", err, w.daemonLog())
	}
	if _, err := w.client.WaitVM(ctx, "src", 3*time.Minute); err != nil {
		b.Fatalf("wait for src: %v", err)
	}
	var lines []string
	for round := range b.N {
		t0 := time.Now()
		copies, err := w.client.ForkVM(ctx, "src", api.ForkVMRequest{Name: fmt.Sprintf("r%d", round), Count: forkCopies}, nil)
		took := time.Since(t0)
		if err != nil {
			b.Fatalf("vm fork: %v\ndaemon log:\n%s", err, lastLines(w.daemonLog(), 20))
		}
		lines = append(lines, fmt.Sprintf("vm fork src -n %d (qemu, %s): %s in all, %s per copy, each ready (re-identified)",
			forkCopies, accelOf(copies), took.Round(time.Millisecond), (took/time.Duration(len(copies))).Round(time.Millisecond)))
		for _, c := range copies {
			lines = append(lines, fmt.Sprintf("  %-10s allocates %5d MiB (its directory: disks cloned from the snapshot's through the disk strategy, identity disk, logs)", c.Name, allocated(c.Dir)>>20))
		}
		if sn, err := w.client.GetSnapshot(ctx, copies[0].Snapshot); err == nil {
			lines = append(lines, fmt.Sprintf("  snapshot %s allocates %d MiB (qemu's migration stream and the disk copies)", sn.Name, sn.SizeBytes>>20))
		}
		for _, c := range copies {
			if err := w.client.DeleteVM(ctx, c.Name, nil); err != nil {
				b.Fatalf("delete %s: %v", c.Name, err)
			}
		}
	}
	printFigures(b, strings.Join(lines, "\n")+"\n(3 copies under TCG software emulation here; on KVM a restore is a fraction of a second)")
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
