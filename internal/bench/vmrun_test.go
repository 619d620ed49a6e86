package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"banger/internal/netnstest"
)

// VM run benchmark parameters.
const (
	vmRunSamples   = 3   // of banger and of the floor, alternating
	goalVMRunRatio = 1.1 // banger's median time to first output over the floor's
)

// echoHi is the command every sample runs.
var echoHi = []string{"echo", "hi"}

// BenchmarkVMRun times `banger vm run --rm -- echo hi` (the real CLI
// against the real bangerd with the qemu driver) to the first byte of the
// command's output and to its exit, next to the guest floor booting the
// same machine with the least the same result needs (see guestFloor),
// alternating, and prints the ratio.
func BenchmarkVMRun(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), guestBenchTimeout)
	defer cancel()
	loadBefore := loadAverage()
	w := newGuestWorld(b)
	w.startDaemon(ctx)
	img := w.registerImage(ctx)
	accel, warm := w.warmUp(ctx)
	fl := w.newGuestFloor(ctx, accel, img)

	var bs []runSample
	var fs []floorSample
	var errs []string
	for round := range b.N {
		for i := range vmRunSamples {
			s, out, err := w.vmRun(ctx, echoHi)
			if err == nil && out != "hi\n" {
				err = fmt.Errorf("stdout %q, want %q", out, "hi\n")
			}
			if err != nil {
				errs = append(errs, fmt.Sprintf("banger sample %d: %v", i+1, err))
			} else {
				bs = append(bs, s)
			}
			f, out, err := fl.run(ctx, round*vmRunSamples+i, echoHi)
			if err == nil && out != "hi\n" {
				err = fmt.Errorf("stdout %q, want %q", out, "hi\n")
			}
			if err != nil {
				errs = append(errs, fmt.Sprintf("floor sample %d: %v", i+1, err))
			} else {
				fs = append(fs, f)
			}
		}
	}
	host := fmt.Sprintf("host load average (1 min) at the start %s, at the end %s, on %d CPUs: the guests share them with everything else",
		loadBefore, loadAverage(), runtime.NumCPU())
	reportVMRun(b, accel, warm, bs, fs, strings.Count(w.daemonLog(), stopTimeoutLog), host, errs)
	if vms, err := w.client.ListVMs(ctx); err == nil && len(vms) > 0 {
		printFigures(b, fmt.Sprintf("WARNING: vm run --rm left %d VMs", len(vms)))
	}
}

// loadAverage is the host's 1-minute load average, or "?".
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) > 0 {
		return f[0]
	}
	return "?"
}

// runSample is one `banger vm run`: time to the first byte of output, to
// exit, and the time to ready banger printed.
type runSample struct {
	firstByte time.Duration
	total     time.Duration
	ready     string
}

// vmRun runs `banger vm run --rm -- argv...` and returns its timing and
// stdout.
func (w *world) vmRun(ctx context.Context, argv []string) (runSample, string, error) {
	cmd := netnstest.Command(ctx, w.netns, bangerCLI(w.tb), append([]string{"vm", "run", "--rm", "--"}, argv...)...)
	cmd.Env = w.env
	var stdout firstOutput
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	t0 := time.Now()
	err := cmd.Run()
	total := time.Since(t0)
	at, out := stdout.result()
	if err != nil {
		return runSample{}, out, fmt.Errorf("banger vm run: %w\nstderr: %s\ndaemon log:\n%s",
			err, stderr.String(), lastLines(w.daemonLog(), 15))
	}
	if at.IsZero() {
		return runSample{}, out, fmt.Errorf("banger vm run: %w", errNoOutput)
	}
	return runSample{firstByte: at.Sub(t0), total: total, ready: readyTime(stderr.String())}, out, nil
}

// stopTimeoutLog is what the daemon logs when a guest did not shut down
// within the stop timeout and its VMM is killed.
const stopTimeoutLog = "guest did not shut down in time"

// errNoOutput reports a command that exited without output.
var errNoOutput = errors.New("the command printed nothing")

// firstOutput keeps what is written to it and the time of the first
// non-empty write.
type firstOutput struct {
	mu  sync.Mutex
	at  time.Time
	buf bytes.Buffer
}

func (f *firstOutput) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.at.IsZero() && len(p) > 0 {
		f.at = time.Now()
	}
	if f.buf.Len() < 64<<10 {
		f.buf.Write(p)
	}
	return len(p), nil
}

// result returns the time of the first output (zero when none) and the
// output.
func (f *firstOutput) result() (time.Time, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.at, f.buf.String()
}

// readyTime returns the duration in vm run's "<name> ready in 12.3s"
// line, or "?".
func readyTime(stderr string) string {
	_, rest, ok := strings.Cut(stderr, " ready in ")
	if f := strings.Fields(rest); ok && len(f) > 0 {
		return f[0]
	}
	return "?"
}

// readyDuration is the time to ready banger printed on stderr.
func readyDuration(stderr string) (time.Duration, error) {
	d, err := time.ParseDuration(strings.TrimSuffix(readyTime(stderr), "s") + "s")
	if err != nil {
		return 0, fmt.Errorf("no time to ready in %q", stderr)
	}
	return d, nil
}

// lastLines returns the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(len(lines)-n, 0):], "\n")
}
