package bench

import (
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"
)

// Goals from the issue.
const (
	goalAddedPerVM = 30 * time.Millisecond // banger p50 − floor p50
	goalConcurrent = 100                   // concurrent creates without error
)

// report prints the lifecycle figures of n concurrent VMs, banger's added
// cost over the floor, the goals and the errors, and reports the main
// figures as metrics.
func report(b *testing.B, n int, banger, base *results) {
	var sb strings.Builder
	fmt.Fprintf(&sb, "%d concurrent lifecycles (create+start+stop+delete), per VM:\n", n)
	fmt.Fprintf(&sb, rowFormat, "(ms)", "p50", "p95", "max")
	table(&sb, "banger", banger)
	table(&sb, "floor", base)

	bp, bok := banger.pct("total", 50)
	fp, fok := base.pct("total", 50)
	disk, _ := banger.pct("disk work", 50)
	bare, _ := banger.pct("total without disk work", 50)
	if bok && fok {
		added := bp - fp
		fmt.Fprintf(&sb, "banger added cost per VM at p50: %s ms (banger %s − floor %s; goal < %s ms: %s)\n",
			ms(added), ms(bp), ms(fp), ms(goalAddedPerVM), verdict(added < goalAddedPerVM))
		fmt.Fprintf(&sb, "  of which disk work (copy-root-disk + create-work-disk) p50: %s ms; without it: %s ms\n",
			ms(disk), ms(bare-fp))
		b.ReportMetric(msf(bp), "banger-p50-ms/vm")
		b.ReportMetric(msf(fp), "floor-p50-ms/vm")
		b.ReportMetric(msf(added), "added-p50-ms/vm")
		b.ReportMetric(msf(disk), "disk-p50-ms/vm")
	} else {
		fmt.Fprintf(&sb, "banger added cost per VM at p50: not measured, no lifecycle finished (banger %v, floor %v)\n", bok, fok)
	}
	fmt.Fprintf(&sb, "wall-clock for all %d: banger %s ms, floor %s ms\n", n, ms(sum(banger.wall)), ms(sum(base.wall)))
	if banger.vms > 0 {
		perVM := sum(banger.cpu) / time.Duration(banger.vms)
		fmt.Fprintf(&sb, "bangerd CPU time per VM lifecycle: %s ms (%s ms in all, in %s ticks)\n",
			ms(perVM), ms(sum(banger.cpu)), clockTick)
		b.ReportMetric(msf(perVM), "bangerd-cpu-ms/vm")
	}

	counts, msgs := banger.errorsByPhase(5)
	fcounts, fmsgs := base.errorsByPhase(5)
	fmt.Fprintf(&sb, "errors: banger %d of %d VMs (%s), floor %d of %d (%s)\n",
		len(banger.errs), banger.vms, formatCounts(counts), len(base.errs), base.vms, formatCounts(fcounts))
	if n >= goalConcurrent {
		fmt.Fprintf(&sb, "%d concurrent creates: %d failed (goal: none: %s)\n", n, counts["create"], verdict(counts["create"] == 0))
	}
	for _, m := range msgs {
		fmt.Fprintf(&sb, "  banger error: %s\n", m)
	}
	for _, m := range fmsgs {
		fmt.Fprintf(&sb, "  floor error: %s\n", m)
	}
	printFigures(b, sb.String())
	b.ReportMetric(float64(len(banger.errs)), "errors")
	b.ReportMetric(0, "ns/op") // one op is a whole batch; the figures above say more
}

// printFigures writes text to stdout under the benchmark's name. The
// testing package cuts a benchmark's log to ten lines, so figures do not
// go through b.Log.
func printFigures(b *testing.B, text string) {
	fmt.Fprintf(os.Stdout, "--- %s\n%s\n", b.Name(), strings.TrimRight(text, "\n"))
}

// rowFormat is one row of the figures table.
const rowFormat = "  %-34s %9s %9s %9s\n"

// table writes one row per span of r: phases, then their steps indented.
func table(w io.Writer, who string, r *results) {
	for _, name := range r.order {
		label := who + " " + name
		if i := strings.IndexByte(name, '/'); i >= 0 {
			label = "    " + name[i+1:]
		}
		p50, _ := r.pct(name, 50)
		p95, _ := r.pct(name, 95)
		top, _ := r.pct(name, 100)
		fmt.Fprintf(w, rowFormat, label, ms(p50), ms(p95), ms(top))
	}
}

func sum(ds []time.Duration) time.Duration {
	var t time.Duration
	for _, d := range ds {
		t += d
	}
	return t
}
