package bench

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"banger/internal/api"
	"banger/internal/netnstest"
	"banger/internal/store"
)

// Warm start benchmark parameters.
const (
	warmSamples   = 3 // of each, alternating
	goalWarmRatio = 5 // cold exit time over warm exit time, at the median
)

// BenchmarkWarmStart times `banger vm run -- true` to its exit when it
// resumes the image's warm snapshot and with --cold (a boot of the same
// image and shape), alternating, and prints the ratio. Without --rm the
// run ends when the command does; each VM is then killed and deleted,
// untimed (a graceful delete waits for the guest's shutdown, which is
// the same work either way). The warm snapshot is made first with banger
// image warm (timed, not a sample).
func BenchmarkWarmStart(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), guestBenchTimeout)
	defer cancel()
	loadBefore := loadAverage()
	w := newGuestWorldWarm(b, true)
	w.startDaemon(ctx)
	w.registerImage(ctx)
	accel, _ := w.warmUp(ctx)
	t0 := time.Now()
	made, err := w.client.WarmImage(ctx, imageName, api.WarmImageRequest{}, nil)
	if err != nil {
		b.Fatalf("image warm: %v\ndaemon log:\n%s", err, lastLines(w.daemonLog(), 20))
	}
	warmBuild := time.Since(t0)

	var warm, cold []runSample
	var errs []string
	for range b.N {
		for i := range warmSamples {
			for _, c := range []struct {
				cold bool
				into *[]runSample
			}{{false, &warm}, {true, &cold}} {
				s, resumed, err := w.runTrue(ctx, fmt.Sprintf("ws%d-%v", i+1, c.cold), c.cold)
				if err == nil && resumed == c.cold {
					err = fmt.Errorf("resumed %v with --cold %v", resumed, c.cold)
				}
				if err != nil {
					errs = append(errs, fmt.Sprintf("sample %d (cold %v): %v", i+1, c.cold, err))
					continue
				}
				*c.into = append(*c.into, s)
			}
		}
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "`banger vm run -- true` to exit: resumed from the warm snapshot vs --cold (qemu -accel %s, %d vCPU, %d MiB, %d MiB work disk; same kernel and image)\n",
		accel, guestVCPUs, guestMemory, guestDisk>>20)
	fmt.Fprintf(&sb, "banger image warm (boot a builder VM, wait for its agent, snapshot, delete): %s ms, %d MiB on disk; not in the samples\n",
		ms(warmBuild), made.Snapshot.SizeBytes>>20)
	const row = "  %-8s %12s %12s   %12s %12s\n"
	fmt.Fprintf(&sb, row, "(ms)", "warm exit", "warm ready", "cold exit", "cold ready")
	for i := range max(len(warm), len(cold)) {
		c := make([]string, 4)
		if i < len(warm) {
			c[0], c[1] = ms(warm[i].total), warm[i].ready
		}
		if i < len(cold) {
			c[2], c[3] = ms(cold[i].total), cold[i].ready
		}
		fmt.Fprintf(&sb, row, fmt.Sprintf("#%d", i+1), c[0], c[1], c[2], c[3])
	}
	wExit, wOK := medianOf(warm, func(s runSample) time.Duration { return s.total })
	cExit, cOK := medianOf(cold, func(s runSample) time.Duration { return s.total })
	fmt.Fprintf(&sb, row, "median", ms(wExit), "", ms(cExit), "")
	if wOK && cOK {
		ratio := float64(cExit) / float64(wExit)
		fmt.Fprintf(&sb, "ratio cold/warm, time to exit at the median: %.2f (goal >= %d: %s)\n", ratio, goalWarmRatio, verdict(ratio >= goalWarmRatio))
		b.ReportMetric(ratio, "ratio")
		b.ReportMetric(msf(wExit), "warm-exit-ms")
		b.ReportMetric(msf(cExit), "cold-exit-ms")
	} else {
		fmt.Fprintf(&sb, "ratio cold/warm: not measured (warm samples %d, cold samples %d): goal missed\n", len(warm), len(cold))
	}
	restoreSteps(ctx, &sb, w.path("state/banger/banger.db"))
	fmt.Fprintf(&sb, "host load average (1 min) at the start %s, at the end %s, on %d CPUs\n", loadBefore, loadAverage(), runtime.NumCPU())
	fmt.Fprintf(&sb, "errors: %d\n", len(errs))
	for _, e := range errs {
		fmt.Fprintf(&sb, "  %s\n", e)
	}
	printFigures(b, sb.String())
	b.ReportMetric(float64(len(errs)), "errors")
	b.ReportMetric(0, "ns/op")
}

// runTrue runs `banger vm run --name name [--cold] -- true` and returns
// its timing and whether the VM was resumed from a snapshot; the VM is
// then killed and deleted.
func (w *world) runTrue(ctx context.Context, name string, cold bool) (runSample, bool, error) {
	args := []string{"vm", "run", "--name", name}
	if cold {
		args = append(args, "--cold")
	}
	cmd := netnstest.Command(ctx, w.netns, bangerCLI(w.tb), append(args, "--", "true")...)
	cmd.Env = w.env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	t0 := time.Now()
	err := cmd.Run()
	total := time.Since(t0)
	if _, kerr := w.client.KillVM(ctx, name, nil); kerr == nil {
		if derr := w.client.DeleteVM(ctx, name, nil); derr != nil && err == nil {
			err = derr
		}
	}
	if err != nil {
		return runSample{}, false, fmt.Errorf("banger %s: %w\nstderr: %s\ndaemon log:\n%s",
			strings.Join(args, " "), err, stderr.String(), lastLines(w.daemonLog(), 15))
	}
	return runSample{total: total, ready: readyTime(stderr.String())}, strings.Contains(stderr.String(), "resumed from snapshot"), nil
}

// restoreSteps prints the median time of each step of the vm.restore
// operations (the warm runs) in the store at db, or why it cannot.
func restoreSteps(ctx context.Context, sb *strings.Builder, db string) {
	st, err := store.Open(ctx, db)
	if err != nil {
		fmt.Fprintf(sb, "warm runs' restore steps: %v\n", err)
		return
	}
	defer st.Close()
	ops, err := st.ListOperations(ctx, 1000)
	if err != nil {
		fmt.Fprintf(sb, "warm runs' restore steps: %v\n", err)
		return
	}
	took := map[string][]time.Duration{}
	var order []string
	for _, o := range ops {
		if o.Kind != "vm.restore" || o.State != "succeeded" {
			continue
		}
		steps, err := st.Steps(ctx, o.ID)
		if err != nil {
			continue
		}
		// A step lasts until the next one starts; the last until the
		// operation finished.
		for i, s := range steps {
			end := o.FinishedAt
			if i+1 < len(steps) {
				end = steps[i+1].At
			}
			if _, ok := took[s.Step]; !ok {
				order = append(order, s.Step)
			}
			took[s.Step] = append(took[s.Step], end.Sub(s.At))
		}
	}
	fmt.Fprintf(sb, "warm runs' restore steps (vm.restore), median ms:")
	for _, name := range order {
		d, _ := medianOf(took[name], func(d time.Duration) time.Duration { return d })
		fmt.Fprintf(sb, " %s %s", name, ms(d))
	}
	sb.WriteString("\n")
}
