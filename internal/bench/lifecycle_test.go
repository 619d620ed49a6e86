package bench

import (
	"context"
	"fmt"
	"os/exec"
	"sync"
	"testing"
	"time"

	"banger/internal/api"
	"banger/internal/client"
)

// benchTimeout bounds a whole benchmark, cleanup excluded.
const benchTimeout = 4 * time.Minute

// diskSteps are the create steps that do disk work.
var diskSteps = []string{"create/copy-root-disk", "create/create-work-disk"}

// BenchmarkLifecycle measures create+start+stop+delete of 1, 10 and 100
// concurrent VMs through the real bangerd and its Go client, and the same
// lifecycles run by the floor client straight against the fake
// Firecracker, and prints banger's added cost per VM.
func BenchmarkLifecycle(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), benchTimeout)
	defer cancel()
	w := newWorld(b)
	profile := w.path("bangerd.pprof")
	w.env = append(w.env, "BANGERD_TEST_CPU_PROFILE="+profile)
	w.startDaemon(ctx)
	img := w.registerImage(ctx)
	if in, err := w.client.Info(ctx); err == nil {
		printFigures(b, fmt.Sprintf("root disks: %s (%s); VM identity: %s (BANGER_BENCH_IDENTITY=debugfs for the fallback)", in.DiskStrategy, in.DiskStrategyWhy, img.Identity))
	}

	// The first create of a size makes the work-disk template; a host does
	// that once, so it is measured apart from the rest.
	warm, _ := runConcurrent(ctx, 1, func(ctx context.Context, _ int) (timing, error) {
		return bangerLifecycle(ctx, w.client, "warm-up")
	})
	if warm[0].err != nil {
		b.Fatalf("warm-up lifecycle: %v\ndaemon log:\n%s", warm[0].err, w.daemonLog())
	}
	first, _ := warm[0].t.get("create")
	printFigures(b, fmt.Sprintf("warm-up: first create took %s ms (it makes the %d MiB work-disk template, once per size and host)",
		ms(first), workDisk>>20))

	fl := floor{bin: w.fc, dir: w.path("floor"), kernel: w.kernel, rootfs: w.rootfs, work: w.path("files/work.ext4")}
	if err := makeSparse(fl.work, workDisk); err != nil {
		b.Fatalf("create the floor's work disk: %v", err)
	}
	for _, n := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("vms=%d", n), func(b *testing.B) {
			var banger, base results
			for round := range b.N {
				outs, wall := runConcurrent(ctx, n, fl.lifecycle)
				base.add(outs, wall)
				cpu0 := w.daemonCPU()
				outs, wall = runConcurrent(ctx, n, func(ctx context.Context, i int) (timing, error) {
					return bangerLifecycle(ctx, w.client, fmt.Sprintf("n%d-r%d-%d", n, round, i))
				})
				banger.cpu = append(banger.cpu, w.daemonCPU()-cpu0)
				derive(outs, "disk work", diskSteps, func(ds []time.Duration) time.Duration { return ds[0] + ds[1] })
				derive(outs, "total without disk work", []string{"total", "disk work"},
					func(ds []time.Duration) time.Duration { return ds[0] - ds[1] })
				banger.add(outs, wall)
			}
			report(b, n, &banger, &base)
		})
	}
	if left := processesUnder(w.root); len(left) > 0 {
		printFigures(b, fmt.Sprintf("WARNING: VMM processes left after every VM was deleted: %v", left))
	}
	// The daemon writes its CPU profile as it exits.
	w.stopDaemon()
	printFigures(b, "bangerd CPU profile over the whole benchmark (top by cumulative time):\n"+profileTop(profile))
}

// profileTop is the top of a CPU profile of bangerd by cumulative time,
// from go tool pprof, or why it could not be read.
func profileTop(profile string) string {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "  (no go command to read " + profile + ")"
	}
	out, err := exec.Command(goBin, "tool", "pprof", "-top", "-cum", "-nodecount", "40", profile).CombinedOutput()
	if err != nil {
		return fmt.Sprintf("  (go tool pprof %s: %v: %s)", profile, err, out)
	}
	return string(out)
}

// runConcurrent runs fn for VMs 0..n-1 at once and returns their outcomes
// and the wall-clock time of the whole batch.
func runConcurrent(ctx context.Context, n int, fn func(ctx context.Context, i int) (timing, error)) ([]outcome, time.Duration) {
	outs := make([]outcome, n)
	ready := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-ready
			t, err := fn(ctx, i)
			outs[i] = outcome{t: t, err: err}
		})
	}
	begin := time.Now()
	close(ready)
	wg.Wait()
	return outs, time.Since(begin)
}

// bangerLifecycle creates, starts, stops and deletes VM name through the
// daemon, timing each operation and each of its steps. A VM left behind by
// a failure is deleted.
func bangerLifecycle(ctx context.Context, c *client.Client, name string) (t timing, err error) {
	exists := false
	defer func() {
		if err != nil && exists {
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
			defer cancel()
			_ = c.DeleteVM(dctx, name, nil)
		}
	}()
	ops := []struct {
		phase string
		call  func(client.Progress) error
	}{
		{"create", func(p client.Progress) error {
			_, err := c.CreateVM(ctx, api.CreateVMRequest{Name: name, Image: imageName}, p)
			return err
		}},
		{"start", func(p client.Progress) error { _, err := c.StartVM(ctx, name, p); return err }},
		{"stop", func(p client.Progress) error { _, err := c.StopVM(ctx, name, p); return err }},
		{"delete", func(p client.Progress) error { return c.DeleteVM(ctx, name, p) }},
	}
	t0 := time.Now()
	for _, op := range ops {
		spans, err := timed(op.phase, op.call)
		t = append(t, spans...)
		if err != nil {
			return t, &phaseError{op.phase, err}
		}
		exists = op.phase != "delete"
	}
	return append(t, span{"total", time.Since(t0)}), nil
}

// timed runs one operation and splits its time into the part before the
// daemon's first step ("phase/(request)": HTTP, validation, journal) and
// each step, using the daemon's timestamps of the step events. The last
// step ends when the call returns.
func timed(phase string, call func(client.Progress) error) (timing, error) {
	type stepAt struct {
		name string
		at   time.Time
	}
	var steps []stepAt
	begin := time.Now()
	err := call(func(ev api.Event) {
		if ev.Type == api.EventStep {
			steps = append(steps, stepAt{ev.Step, ev.Time})
		}
	})
	end := time.Now()
	if err != nil {
		return nil, err
	}
	t := timing{{phase, end.Sub(begin)}}
	if len(steps) > 0 {
		t = append(t, span{phase + "/(request)", steps[0].at.Sub(begin)})
	}
	for i, s := range steps {
		next := end
		if i+1 < len(steps) {
			next = steps[i+1].at
		}
		t = append(t, span{phase + "/" + s.name, next.Sub(s.at)})
	}
	return t, nil
}
