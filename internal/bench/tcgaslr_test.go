package bench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"banger/internal/netnstest"
)

// tcgASLRSamples is how many vm runs BenchmarkTCGASLR makes with each
// setting.
const tcgASLRSamples = 3

// tcgExecCount is how many times tcgExecLoop runs /bin/true.
const tcgExecCount = 100

// tcgExecLoop runs /bin/true tcgExecCount times in the guest and prints the
// mean time of one fork and exec in microseconds.
var tcgExecLoop = fmt.Sprintf(`i=0; s=$(date +%%s%%N); while [ $i -lt %d ]; do /bin/true; i=$((i+1)); done; e=$(date +%%s%%N); echo $(( (e - s) / %d ))`,
	tcgExecCount, tcgExecCount*1000)

// BenchmarkTCGASLR measures what vmm.tcg_aslr costs under software
// emulation: vm run -- (100 × /bin/true) with the default (guests boot
// with norandmaps) and, as the baseline, with tcg_aslr = true (the same
// VM, the same command line but for norandmaps), alternating, the daemon
// restarted with the other config (and warmed up again) between samples. It prints the time to
// a ready agent and the mean fork and exec of /bin/true in the guest.
// Under KVM the setting does nothing, and the benchmark says so.
func BenchmarkTCGASLR(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), guestBenchTimeout)
	defer cancel()
	w := newGuestWorld(b)
	cfgPath := w.path("config/banger/config.toml")
	base, err := os.ReadFile(cfgPath)
	if err != nil {
		b.Fatal(err)
	}
	setASLR := func(on bool) {
		b.Helper()
		cfg := strings.Replace(string(base), "[vmm]\n", fmt.Sprintf("[vmm]\ntcg_aslr = %v\n", on), 1)
		if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
			b.Fatal(err)
		}
		w.stopDaemon()
		w.startDaemon(ctx)
		w.warmUp(ctx) // the restarted daemon probes KVM again at its first launch
	}
	w.startDaemon(ctx)
	w.registerImage(ctx)
	if accel, _ := w.warmUp(ctx); accel != "tcg" {
		printFigures(b, fmt.Sprintf("qemu runs guests under %s here: vmm.tcg_aslr applies to TCG only, nothing to compare\n", accel))
		b.ReportMetric(0, "ns/op")
		return
	}
	type sample struct{ ready, exec time.Duration }
	samples := map[bool][]sample{}
	var errs []string
	for range b.N {
		for i := range tcgASLRSamples {
			for _, aslr := range []bool{false, true} {
				setASLR(aslr)
				ready, exec, err := w.execLoopRun(ctx, fmt.Sprintf("aslr-%v-%d", aslr, i))
				if err != nil {
					errs = append(errs, fmt.Sprintf("tcg_aslr = %v, sample %d: %v", aslr, i+1, err))
					continue
				}
				samples[aslr] = append(samples[aslr], sample{ready, exec})
			}
		}
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "vm run -- (%d × /bin/true) under TCG, median of %d, alternating (qemu, %d vCPU, %d MiB, built kernel):\n",
		tcgExecCount, tcgASLRSamples, guestVCPUs, guestMemory)
	fmt.Fprintf(&sb, "  %-36s %9s %14s\n", "", "to ready", "fork+exec")
	for _, row := range []struct {
		aslr bool
		name string
	}{
		{false, "norandmaps (default)"},
		{true, "baseline: ASLR (vmm.tcg_aslr = true)"},
	} {
		ready, ok := medianOf(samples[row.aslr], func(s sample) time.Duration { return s.ready })
		exec, _ := medianOf(samples[row.aslr], func(s sample) time.Duration { return s.exec })
		if !ok {
			fmt.Fprintf(&sb, "  %-36s no samples\n", row.name)
			continue
		}
		fmt.Fprintf(&sb, "  %-36s %7.2f s %11.2f ms\n", row.name, ready.Seconds(), float64(exec.Microseconds())/1000)
		metric := "norandmaps"
		if row.aslr {
			metric = "aslr"
		}
		b.ReportMetric(ready.Seconds(), metric+"-ready-s")
		b.ReportMetric(float64(exec.Microseconds())/1000, metric+"-exec-ms")
	}
	sb.WriteString("  the baseline is the same VM, image, kernel and qemu command line but for the guest's norandmaps\n")
	for _, e := range errs {
		fmt.Fprintf(&sb, "ERROR %s\n", e)
	}
	printFigures(b, sb.String())
	b.ReportMetric(0, "ns/op")
}

// execLoopRun runs tcgExecLoop in a new VM named name with vm run --rm and
// returns the time to ready banger printed and the guest's mean fork and
// exec of /bin/true.
func (w *world) execLoopRun(ctx context.Context, name string) (ready, exec time.Duration, err error) {
	cmd := netnstest.Command(ctx, w.netns, bangerCLI(w.tb), "vm", "run", "--rm", "--name", name, "--", "sh", "-c", tcgExecLoop)
	cmd.Env = w.env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return 0, 0, fmt.Errorf("banger vm run: %w\nstderr: %s\ndaemon log:\n%s", err, stderr.String(), lastLines(w.daemonLog(), 15))
	}
	ready, err = readyDuration(stderr.String())
	if err != nil {
		return 0, 0, err
	}
	us, err := strconv.Atoi(strings.TrimSpace(stdout.String()))
	if err != nil {
		return 0, 0, fmt.Errorf("the guest printed %q, not microseconds", stdout.String())
	}
	return ready, time.Duration(us) * time.Microsecond, nil
}
