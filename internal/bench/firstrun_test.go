package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"banger/internal/imagebuild/imagetest"
	"banger/internal/kernelbuild/kerneltest"
	"banger/internal/netnstest"
	"banger/internal/testtier"
)

// First-run benchmark parameters.
const (
	// firstRunBuildEnv, set to 1, adds the kernel-build path to
	// BenchmarkFirstRun: `banger kernel build` from an empty cache (about 8
	// minutes on 2 cores), then the same first vm run.
	firstRunBuildEnv = "BANGER_BENCH_FIRSTRUN_BUILD"
	// firstRunTimeout bounds one path: a kernel build, an image build and
	// a boot under software emulation.
	firstRunTimeout = 40 * time.Minute
)

// BenchmarkFirstRun times what a user waits for on a fresh machine:
// `banger vm run -- true` with empty banger state and cache (fresh XDG
// directories; the test kernel and image caches are not used), so the
// CLI takes the distribution's kernel package (downloaded from the
// mirror), builds the default image from Debian packages, boots it and
// runs the command, with the split by phase and by step. With
// BANGER_BENCH_FIRSTRUN_BUILD=1 it also times, in the same run, the
// kernel-build path: `banger kernel build` from an empty cache, then the
// same first vm run (image build, boot, command). It needs root, qemu,
// apt-get with current package lists, mmdebstrap, linux-source for the
// kernel-build path, and the Debian mirror: the daemon runs in a network
// namespace and reaches the mirror through an HTTP proxy
// (netnstest.ServeProxy).
func BenchmarkFirstRun(b *testing.B) {
	testtier.Guest(b)
	for _, bin := range []string{qemuBin, "apt-get", "mmdebstrap"} {
		if _, err := exec.LookPath(bin); err != nil {
			b.Skipf("needs %s for a first run: apt-get install qemu-system-x86 mmdebstrap", bin)
		}
	}
	agent, err := imagetest.AgentBinary(tempDir(b, "bgb-agent-"))
	if err != nil {
		b.Fatalf("build the agent: %v", err)
	}
	env := []string{"BANGER_AGENT_BIN=" + agent, "BANGER_INIT_BIN=" + kerneltest.InitBinary(b)}
	var sb strings.Builder
	fmt.Fprintf(&sb, "first `banger vm run -- true` with empty banger state and cache (qemu, %d vCPU, %d MiB; mirror through an HTTP proxy):\n", guestVCPUs, guestMemory)
	var distro, built time.Duration
	for range b.N {
		w := newFirstRunWorld(b, env)
		ctx, cancel := context.WithTimeout(context.Background(), firstRunTimeout)
		t0 := time.Now()
		run, err := w.timedBanger(ctx, t0, "vm", "run", "--", "true")
		if err != nil {
			cancel()
			b.Fatalf("distro path: %v", err)
		}
		distro = time.Since(t0)
		b.Logf("distro path, stderr of banger vm run:\n%s", run.stamped())
		ph, err := run.phases(0)
		cancel()
		if err != nil {
			b.Fatalf("distro path: %v", err)
		}
		fmt.Fprintf(&sb, "distribution kernel path (the default): %.1f s end to end (goal under %s: %s; 1-minute load average at the end %s)\n",
			distro.Seconds(), goalFirstRun, verdict(distro <= goalFirstRun), loadAverage())
		ph.write(&sb)
		cpuLine(&sb, w)
		w.cleanup()

		if os.Getenv(firstRunBuildEnv) != "1" {
			fmt.Fprintf(&sb, "kernel-build path: SKIPPED (a kernel build: 8 to 17 minutes more here); run with %s=1 and -timeout 60m to time it\n", firstRunBuildEnv)
			continue
		}
		w = newFirstRunWorld(b, env)
		ctx, cancel = context.WithTimeout(context.Background(), firstRunTimeout)
		t0 = time.Now()
		kb, err := w.timedBanger(ctx, t0, "kernel", "build", "--name", "default")
		if err != nil {
			cancel()
			b.Fatalf("kernel-build path: %v", err)
		}
		kernelDone := time.Since(t0)
		run, err = w.timedBanger(ctx, t0, "vm", "run", "--", "true")
		if err != nil {
			cancel()
			b.Fatalf("kernel-build path: %v", err)
		}
		built = time.Since(t0)
		kb.lines = append(kb.lines, run.lines...)
		b.Logf("kernel-build path, stderr of banger kernel build and vm run:\n%s", kb.stamped())
		kb.end = run.end
		ph, err = kb.phases(kernelDone)
		cancel()
		if err != nil {
			b.Fatalf("kernel-build path: %v", err)
		}
		fmt.Fprintf(&sb, "kernel-build path (banger kernel build, then the same vm run): %.1f s end to end (%.1f× the distribution path; 1-minute load average at the end %s)\n",
			built.Seconds(), built.Seconds()/distro.Seconds(), loadAverage())
		ph.write(&sb)
		cpuLine(&sb, w)
		w.cleanup()
	}
	sb.WriteString("each figure is wall time as the user sees it: kernel = the kernel fetch (apt-get download, unpack, initramfs) or build;\n" +
		"image = the default image build (mmdebstrap from the mirror, agent, ext4); boot = banger's \"ready in\" (create, start, guest agent ready);\n" +
		"command = running `true` in the guest and the CLI's exit; other = the CLI and daemon's own work between those\n")
	printFigures(b, sb.String())
	b.ReportMetric(distro.Seconds(), "distro-first-run-s")
	if built > 0 {
		b.ReportMetric(built.Seconds(), "built-first-run-s")
	}
	b.ReportMetric(0, "ns/op")
}

// cpuLine writes the CPU time bangerd and the programs it ran and waited
// for have used: the kernel fetch or build and the image build, not the
// still running guest's qemu. Unlike the wall times it does not grow with
// the load from other processes; on 2 idle cores those phases take at
// least half of it.
func cpuLine(sb *strings.Builder, w *world) {
	d, err := treeCPUTime(w.daemonPID())
	if err != nil {
		fmt.Fprintf(sb, "  CPU time of bangerd and its finished children: unknown (%v)\n", err)
		return
	}
	fmt.Fprintf(sb, "  CPU time of bangerd and its finished children (kernel, image build; not the guest's qemu): %.1f s\n", d.Seconds())
}

// newFirstRunWorld is a world with the qemu driver, no kernel and no
// image, whose daemon (started) reaches the Debian mirror through a proxy
// served into its namespace.
func newFirstRunWorld(b *testing.B, env []string) *world {
	b.Helper()
	w := newWorld(b)
	cfg := fmt.Sprintf("[vmm]\ndriver = \"qemu\"\n\n[vm]\nvcpus = %d\nmemory = \"%dM\"\ndisk_size = \"%dM\"\n",
		guestVCPUs, guestMemory, guestDisk>>20)
	if err := os.WriteFile(w.path("config/banger/config.toml"), []byte(cfg), 0o600); err != nil {
		b.Fatalf("write config: %v", err)
	}
	proxy := netnstest.ServeProxy(b, w.netns)
	w.env = append(w.env, env...)
	w.env = append(w.env, "http_proxy=http://"+proxy)
	w.startDaemon(context.Background())
	return w
}

// stampedLine is one line of the CLI's stderr and when it came, since
// the start of the path.
type stampedLine struct {
	at   time.Duration
	text string
}

// transcript is the CLI's stderr, line by line with times, and when the
// last command of the path exited.
type transcript struct {
	lines []stampedLine
	end   time.Duration
}

// timedBanger runs the banger CLI with args in the world's namespace and
// records its stderr lines with their times since t0.
func (w *world) timedBanger(ctx context.Context, t0 time.Time, args ...string) (transcript, error) {
	cmd := netnstest.Command(ctx, w.netns, bangerCLI(w.tb), args...)
	cmd.Env = w.env
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	pipe, err := cmd.StderrPipe()
	if err != nil {
		return transcript{}, err
	}
	if err := cmd.Start(); err != nil {
		return transcript{}, fmt.Errorf("start banger %s: %w", strings.Join(args, " "), err)
	}
	var tr transcript
	sc := bufio.NewScanner(pipe)
	for sc.Scan() {
		tr.lines = append(tr.lines, stampedLine{time.Since(t0), sc.Text()})
	}
	err = cmd.Wait()
	tr.end = time.Since(t0)
	if err != nil {
		return tr, fmt.Errorf("banger %s: %w\nstderr:\n%s\nstdout:\n%s\ndaemon log:\n%s",
			strings.Join(args, " "), err, lastLines(tr.text(), 30), stdout.String(), lastLines(w.daemonLog(), 30))
	}
	return tr, nil
}

// text is the transcript's lines.
func (tr transcript) text() string {
	var all []string
	for _, l := range tr.lines {
		all = append(all, l.text)
	}
	return strings.Join(all, "\n")
}

// stamped is the transcript's lines, each with its time.
func (tr transcript) stamped() string {
	var sb strings.Builder
	for _, l := range tr.lines {
		fmt.Fprintf(&sb, "%7.1fs %s\n", l.at.Seconds(), l.text)
	}
	return sb.String()
}

// phase is one span of a first run, with the steps its progress lines
// named.
type phase struct {
	name  string
	took  time.Duration
	steps []stepSpan
}

// stepSpan is a named duration.
type stepSpan struct {
	name string
	took time.Duration
}

// phaseSplit is a first run cut into phases.
type phaseSplit struct {
	total  time.Duration
	phases []phase
}

var stepLine = regexp.MustCompile(`\[(\d+)/(\d+)\] (\S+)`)

// phases cuts a transcript of (an optional `banger kernel build` that
// ended at kernelDone, then) `banger vm run` into the kernel, image,
// boot and command phases, by the lines the CLI prints: "no kernel yet"
// starts the kernel fetch, "no image" starts the image build, "ready in
// S" ends the boot, which began S before it. Progress lines ("[i/n]
// step") inside a phase give its steps.
func (tr transcript) phases(kernelDone time.Duration) (phaseSplit, error) {
	var kernelStart, imageStart, ready time.Duration = -1, -1, -1
	var boot time.Duration
	for _, l := range tr.lines {
		switch {
		case strings.Contains(l.text, "no kernel yet") && kernelStart < 0:
			kernelStart = l.at
		case strings.Contains(l.text, "banger: no image") && imageStart < 0:
			imageStart = l.at
		case strings.Contains(l.text, " ready in ") && ready < 0:
			s := strings.TrimSuffix(readyTime(l.text), "s")
			secs, err := strconv.ParseFloat(s, 64)
			if err != nil {
				return phaseSplit{}, fmt.Errorf("no time in %q", l.text)
			}
			ready, boot = l.at, time.Duration(secs*float64(time.Second))
		}
	}
	if kernelDone > 0 {
		kernelStart = 0
	}
	if kernelStart < 0 || imageStart < 0 || ready < 0 {
		return phaseSplit{}, fmt.Errorf("the CLI did not print the first-run lines (no kernel yet, no image, ready in):\n%s", tr.text())
	}
	kernelEnd := imageStart
	if kernelDone > 0 {
		kernelEnd = kernelDone
	}
	imageEnd := ready - boot
	ps := phaseSplit{total: tr.end}
	kernelName := "kernel fetch (banger's first-run default)"
	if kernelDone > 0 {
		kernelName = "kernel build (banger kernel build)"
	}
	ps.phases = []phase{
		{name: kernelName, took: kernelEnd - kernelStart, steps: tr.steps(kernelStart, kernelEnd)},
		{name: "image build", took: imageEnd - imageStart, steps: tr.steps(imageStart, imageEnd)},
		{name: "boot to a ready agent", took: boot},
		{name: "command and exit", took: tr.end - ready},
	}
	var sum time.Duration
	for _, p := range ps.phases {
		sum += p.took
	}
	ps.phases = append(ps.phases, phase{name: "other", took: tr.end - sum})
	return ps, nil
}

// steps returns the steps the progress lines between from and to name,
// each lasting until the next one starts (the last until to).
func (tr transcript) steps(from, to time.Duration) []stepSpan {
	var out []stepSpan
	var starts []time.Duration
	for _, l := range tr.lines {
		if l.at < from || l.at > to {
			continue
		}
		m := stepLine.FindStringSubmatch(l.text)
		if m == nil {
			continue
		}
		name := "[" + m[1] + "/" + m[2] + "] " + m[3]
		if len(out) > 0 && out[len(out)-1].name == name {
			continue
		}
		out = append(out, stepSpan{name: name})
		starts = append(starts, l.at)
	}
	for i := range out {
		end := to
		if i+1 < len(out) {
			end = starts[i+1]
		}
		out[i].took = end - starts[i]
	}
	return out
}

// write prints the split, a phase per line with its steps indented.
func (ps phaseSplit) write(sb *strings.Builder) {
	for _, p := range ps.phases {
		fmt.Fprintf(sb, "  %-44s %7.1f s  %3.0f%%\n", p.name, p.took.Seconds(), 100*p.took.Seconds()/ps.total.Seconds())
		for _, s := range p.steps {
			fmt.Fprintf(sb, "      %-40s %7.1f s\n", s.name, s.took.Seconds())
		}
	}
}
