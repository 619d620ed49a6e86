package bench

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// floorScope says what the floor's figures include and exclude.
const floorScope = "floor: the same machine as banger's VM: the qemu argv of vmm/qemu.Args (less -S and -qmp: it boots at once and never talks to qemu)\n" +
	"  for a spec from vm.VMMSpec, the same kernel args (vm.NetAttachment.Apply: banger.ip/gw/dns), the same image files,\n" +
	"  identity files from vm.IdentityFiles (on the identity disk when the image reads one), a virtio-net device on a tap\n" +
	"  on banger's bridge in the same namespace;\n" +
	"  timed from the root-disk copy to the agent's Ready and the command's first output, as banger's samples are\n" +
	"  excludes: daemon, store, API, CLI, QMP, tap creation (made once, as banger's warm pool does), firewall rules, DNS record\n"

// reportVMRun prints every sample of banger and of the floor, their
// medians and the ratio against its goal, and reports the medians as
// metrics.
//
// stopTimeouts is how many deletes found the guest still running at the
// stop timeout and killed its VMM; host says how busy the host was.
func reportVMRun(b *testing.B, accel string, warm time.Duration, bs []runSample, fs []floorSample, stopTimeouts int, host string, errs []string) {
	var sb strings.Builder
	fmt.Fprintf(&sb, "`banger vm run --rm -- echo hi` against the floor (qemu -accel %s, %d vCPU, %d MiB, %d MiB work disk; same kernel and image)\n",
		accel, guestVCPUs, guestMemory, guestDisk>>20)
	sb.WriteString(floorScope)
	fmt.Fprintf(&sb, "warm-up: a first create+start took %s ms (accelerator probe and work-disk template, once per daemon); not in the samples\n", ms(warm))
	const row = "  %-8s %16s %12s %12s   %16s %10s %10s %6s\n"
	fmt.Fprintf(&sb, row, "(ms)", "banger 1st byte", "banger exit", "banger ready", "floor 1st byte", "disks", "agent", "tries")
	for i := range max(len(bs), len(fs)) {
		c := make([]string, 7)
		if i < len(bs) {
			c[0], c[1], c[2] = ms(bs[i].firstByte), ms(bs[i].total), bs[i].ready
		}
		if i < len(fs) {
			c[3], c[4], c[5], c[6] = ms(fs[i].firstByte), ms(fs[i].disks), ms(fs[i].agent), fmt.Sprint(fs[i].attempts)
		}
		fmt.Fprintf(&sb, row, fmt.Sprintf("#%d", i+1), c[0], c[1], c[2], c[3], c[4], c[5], c[6])
	}
	bFirst, bOK := medianOf(bs, func(s runSample) time.Duration { return s.firstByte })
	bExit, _ := medianOf(bs, func(s runSample) time.Duration { return s.total })
	fFirst, fOK := medianOf(fs, func(s floorSample) time.Duration { return s.firstByte })
	fDisks, _ := medianOf(fs, func(s floorSample) time.Duration { return s.disks })
	fAgent, _ := medianOf(fs, func(s floorSample) time.Duration { return s.agent })
	fmt.Fprintf(&sb, row, "median", ms(bFirst), ms(bExit), "", ms(fFirst), ms(fDisks), ms(fAgent), "")
	if bOK && fOK {
		ratio := float64(bFirst) / float64(fFirst)
		fmt.Fprintf(&sb, "ratio banger/floor, time to first output at the median: %.3f (banger %s ms, floor %s ms; goal <= %.1f: %s)\n",
			ratio, ms(bFirst), ms(fFirst), goalVMRunRatio, verdict(ratio <= goalVMRunRatio))
		fmt.Fprintf(&sb, "banger's exit comes %s ms after its first output at the median (the --rm delete and the CLI's exit)\n", ms(bExit-bFirst))
		fmt.Fprintf(&sb, "  deletes that waited out the stop timeout and killed the VMM: %d of %d\n", stopTimeouts, len(bs))
		fmt.Fprintf(&sb, "  floor: agent Shutdown request to qemu exit: %s\n", shutdownTimes(fs))
		b.ReportMetric(ratio, "ratio")
		b.ReportMetric(msf(bFirst), "banger-first-ms")
		b.ReportMetric(msf(bExit), "banger-exit-ms")
		b.ReportMetric(msf(fFirst), "floor-first-ms")
	} else {
		fmt.Fprintf(&sb, "ratio banger/floor: not measured (banger samples %d, floor samples %d): goal missed\n", len(bs), len(fs))
	}
	fmt.Fprintln(&sb, host)
	fmt.Fprintf(&sb, "errors: %d\n", len(errs))
	for _, e := range errs {
		fmt.Fprintf(&sb, "  %s\n", e)
	}
	printFigures(b, sb.String())
	b.ReportMetric(float64(len(errs)), "errors")
	b.ReportMetric(0, "ns/op") // one op is a whole set of samples
}

// shutdownTimes lists each floor sample's shutdown time, or that qemu did
// not exit in time.
func shutdownTimes(fs []floorSample) string {
	parts := make([]string, len(fs))
	for i, f := range fs {
		parts[i] = ms(f.shutdown) + " ms"
		if f.shutdown == 0 {
			parts[i] = fmt.Sprintf("no exit within %s", floorShutdownWait)
		}
	}
	return strings.Join(parts, ", ")
}

// medianOf is the median of d over samples, false when there are none.
func medianOf[S any](samples []S, d func(S) time.Duration) (time.Duration, bool) {
	if len(samples) == 0 {
		return 0, false
	}
	ds := make([]time.Duration, len(samples))
	for i, s := range samples {
		ds[i] = d(s)
	}
	return percentile(ds, 50), true
}
