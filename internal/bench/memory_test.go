package bench

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"banger/internal/api"
)

// Memory benchmark parameters.
const (
	memoryVMs = 100
	goalRSS   = 60 << 10 // KiB: the daemon's RSS with memoryVMs VMs
	// settle is how long the daemon is left alone before its RSS is read,
	// so that the figure is its resting size, not a request in flight.
	settle = time.Second
)

// BenchmarkDaemonMemory reads bangerd's resident set size (VmRSS) right
// after start, with memoryVMs VMs created and stopped, and with them all
// running, plus its peak (VmHWM).
func BenchmarkDaemonMemory(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), benchTimeout)
	defer cancel()
	w := newWorld(b)
	w.startDaemon(ctx)
	pid := w.daemonPID()
	time.Sleep(settle)
	idle := kib(b, pid, "VmRSS")

	w.registerImage(ctx)
	name := func(i int) string { return fmt.Sprintf("m%d", i) }
	var errs []string
	phase := func(what string, fn func(ctx context.Context, ref string) error) {
		outs, _ := runConcurrent(ctx, memoryVMs, func(ctx context.Context, i int) (timing, error) {
			return nil, fn(ctx, name(i))
		})
		for i, o := range outs {
			if o.err != nil {
				errs = append(errs, fmt.Sprintf("%s %s: %v", what, name(i), o.err))
			}
		}
	}
	phase("create", func(ctx context.Context, ref string) error {
		_, err := w.client.CreateVM(ctx, api.CreateVMRequest{Name: ref, Image: imageName}, nil)
		return err
	})
	time.Sleep(settle)
	recorded := kib(b, pid, "VmRSS")
	phase("start", func(ctx context.Context, ref string) error { _, err := w.client.StartVM(ctx, ref, nil); return err })
	time.Sleep(settle)
	running := kib(b, pid, "VmRSS")
	peak := kib(b, pid, "VmHWM")
	phase("delete", func(ctx context.Context, ref string) error { return w.client.DeleteVM(ctx, ref, nil) })

	var sb strings.Builder
	fmt.Fprintf(&sb, "bangerd RSS (VmRSS, read after %s idle):\n", settle)
	fmt.Fprintf(&sb, "  idle after start:              %6.1f MiB\n", mib(idle))
	fmt.Fprintf(&sb, "  with %d VMs created, stopped: %6.1f MiB (goal < %d MiB: %s)\n",
		memoryVMs, mib(recorded), goalRSS>>10, verdict(recorded < goalRSS))
	fmt.Fprintf(&sb, "  with %d VMs running:          %6.1f MiB (goal < %d MiB: %s)\n",
		memoryVMs, mib(running), goalRSS>>10, verdict(running < goalRSS))
	fmt.Fprintf(&sb, "  peak (VmHWM) so far:           %6.1f MiB\n", mib(peak))
	fmt.Fprintf(&sb, "errors: %d\n", len(errs))
	for _, e := range errs[:min(len(errs), 5)] {
		fmt.Fprintf(&sb, "  %s\n", e)
	}
	printFigures(b, sb.String())
	b.ReportMetric(mib(idle), "idle-MiB")
	b.ReportMetric(mib(recorded), "stopped100-MiB")
	b.ReportMetric(mib(running), "running100-MiB")
	b.ReportMetric(mib(peak), "peak-MiB")
	b.ReportMetric(float64(len(errs)), "errors")
	b.ReportMetric(0, "ns/op")
}

// kib reads a KiB field of the daemon's /proc status.
func kib(b *testing.B, pid int, field string) int64 {
	b.Helper()
	v, err := statusKiB(pid, field)
	if err != nil {
		b.Fatalf("read %s of bangerd: %v", field, err)
	}
	return v
}

func mib(kib int64) float64 { return float64(kib) / 1024 }
