package bench

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"banger/internal/api"
	"banger/internal/client"
)

// createSamples is how many creates the disk preparation figures come from.
const createSamples = 5

// createDiskSteps are the create steps that prepare a VM's disks;
// write-identity only for an image that does not read the identity disk
// (the default image does).
var createDiskSteps = []string{"create/copy-root-disk", "create/write-identity", "create/create-work-disk"}

// BenchmarkCreateDisks times the disk preparation of `vm create` (sparse
// copy of the root disk, for images without the identity disk the
// identity written into it, work disk from its template) with the real default image, through the real daemon, from
// the step events of createSamples creates.
func BenchmarkCreateDisks(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), benchTimeout)
	defer cancel()
	w := newGuestWorld(b)
	w.startDaemon(ctx)
	w.registerImage(ctx)
	apparent, allocated, err := fileSize(w.rootfs)
	if err != nil {
		b.Fatalf("stat the image: %v", err)
	}

	// The first create makes the work-disk template and reads the image
	// into the page cache; a host does both once.
	warm, err := w.createAndDelete(ctx, "disk-warm-up")
	if err != nil {
		b.Fatalf("warm-up create: %v\ndaemon log:\n%s", err, lastLines(w.daemonLog(), 15))
	}
	var outs []outcome
	for round := range b.N {
		for i := range createSamples {
			t, err := w.createAndDelete(ctx, fmt.Sprintf("disks-%d-%d", round, i))
			outs = append(outs, outcome{t: t, err: err})
		}
	}
	for i, o := range outs {
		var total time.Duration
		for _, s := range createDiskSteps {
			d, _ := o.t.get(s) // a step the create did not run counts 0
			total += d
		}
		outs[i].t = append(outs[i].t, span{"disk preparation", total})
	}
	var r results
	r.add(outs, 0)

	var sb strings.Builder
	fmt.Fprintf(&sb, "vm create disk preparation, default image %s (%d MiB apparent, %d MiB allocated), %d MiB work disk, %d creates:\n",
		w.rootfs, apparent>>20, allocated>>20, guestDisk>>20, len(outs))
	warmTotal, _ := warm.get("create")
	warmDisks, _ := warm.get("create/create-work-disk")
	fmt.Fprintf(&sb, "warm-up create (not in the figures): %s ms, of which create-work-disk %s ms (makes the template)\n",
		ms(warmTotal), ms(warmDisks))
	fmt.Fprintf(&sb, rowFormat, "(ms)", "p50", "p95", "max")
	for _, name := range append([]string{"create"}, append(createDiskSteps, "disk preparation")...) {
		p50, ok := r.pct(name, 50)
		if !ok {
			continue
		}
		p95, _ := r.pct(name, 95)
		top, _ := r.pct(name, 100)
		fmt.Fprintf(&sb, rowFormat, name, ms(p50), ms(p95), ms(top))
	}
	if p50, ok := r.pct("disk preparation", 50); ok {
		b.ReportMetric(msf(p50), "disks-p50-ms")
	}
	for _, name := range createDiskSteps {
		if p50, ok := r.pct(name, 50); ok {
			b.ReportMetric(msf(p50), strings.TrimPrefix(name, "create/")+"-p50-ms")
		}
	}
	counts, msgs := r.errorsByPhase(5)
	fmt.Fprintf(&sb, "errors: %d (%s)\n", len(r.errs), formatCounts(counts))
	for _, m := range msgs {
		fmt.Fprintf(&sb, "  %s\n", m)
	}
	printFigures(b, sb.String())
	b.ReportMetric(float64(len(r.errs)), "errors")
	b.ReportMetric(0, "ns/op")
}

// createAndDelete creates VM name, timing the create and its steps, then
// deletes it (not timed).
func (w *world) createAndDelete(ctx context.Context, name string) (timing, error) {
	t, err := timed("create", func(p client.Progress) error {
		_, err := w.client.CreateVM(ctx, api.CreateVMRequest{Name: name, Image: imageName}, p)
		return err
	})
	if err != nil {
		return t, &phaseError{"create", err}
	}
	if err := w.client.DeleteVM(ctx, name, nil); err != nil {
		return t, &phaseError{"delete", err}
	}
	return t, nil
}
