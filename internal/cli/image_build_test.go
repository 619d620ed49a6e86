package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/cobra"

	"banger/internal/api"
)

// fakeClock is a settable clock for the progress view.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// TestProgressViewPlain drives the off-terminal view with an injected
// clock: a line when a step starts, then at most one every plainEvery
// while events come, and the same line again on a tick when none do.
func TestProgressViewPlain(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	var out bytes.Buffer
	v := newProgressView(&out, false, false, clock.now)
	compile := func(done int64, line string) api.Event {
		return api.Event{Type: api.EventStep, Step: "compile", Index: 5, Total: 7, Detail: line,
			Fraction: float64(done) / 1000, Current: done, TotalUnits: 1000, Unit: api.UnitObjects}
	}
	v.report(api.Event{Type: api.EventStep, Step: "extract", Index: 3, Total: 7, Detail: "/cache/src-1", Fraction: 1})
	clock.advance(time.Second)
	v.report(compile(0, "make -j2 vmlinux bzImage"))
	for i := 1; i <= 12; i++ { // an event a second: lines at 5 s and 10 s
		clock.advance(time.Second)
		v.report(compile(int64(i*20), "  CC      obj"))
	}
	clock.advance(2 * time.Second) // 4 s since the last line: nothing
	v.tick()
	clock.advance(2 * time.Second) // 6 s: the line again, though nothing came
	v.tick()
	v.report(api.Event{Type: api.EventStep, Step: "install", Index: 6, Total: 7}) // a new step: at once
	v.report(api.Event{Type: api.EventResult})
	v.finish(true)
	clock.advance(time.Minute)
	v.tick() // finished: nothing more
	v.report(compile(999, "late"))

	want := []string{
		"[3/7] extract 100% (0s)  /cache/src-1",
		"[5/7] compile 0/1000 objects (1s)  make -j2 vmlinux bzImage",
		"[5/7] compile  10% 100/1000 objects, about 45s left (6s)  CC      obj",
		"[5/7] compile  20% 200/1000 objects, about 40s left (11s)  CC      obj",
		"[5/7] compile  24% 240/1000 objects, about 50s left (17s)  CC      obj",
		"[6/7] install (17s)",
	}
	if diff := cmp.Diff(want, strings.Split(strings.TrimSpace(out.String()), "\n")); diff != "" {
		t.Errorf("plain progress (-want +got):\n%s", diff)
	}
	if got := v.lastDetail("extract"); got != "/cache/src-1" {
		t.Errorf("lastDetail(extract) = %q", got)
	}
}

// TestProgressViewItems checks bars of items a step works on at once (as
// an image pull's layers would report) and byte counts.
func TestProgressViewItems(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	var out bytes.Buffer
	v := newProgressView(&out, false, false, clock.now)
	layer := func(bar string, done int64) api.Event {
		return api.Event{Type: api.EventStep, Step: "pull", Index: 1, Total: 2, Bar: bar,
			Fraction: float64(done) / (4 << 20), Current: done, TotalUnits: 4 << 20, Unit: api.UnitBytes}
	}
	v.report(layer("sha256:aaa", 0))
	v.report(layer("sha256:bbb", 1<<20))
	clock.advance(5 * time.Second)
	v.report(layer("sha256:aaa", 2<<20))
	v.finish(true)
	want := []string{
		"sha256:aaa: [1/2] pull 0 B/4.0 MiB (0s)",
		"sha256:bbb: [1/2] pull  25% 1.0 MiB/4.0 MiB (0s)",
		"sha256:aaa: [1/2] pull  50% 2.0 MiB/4.0 MiB, about 5s left (5s)",
	}
	if diff := cmp.Diff(want, strings.Split(strings.TrimSpace(out.String()), "\n")); diff != "" {
		t.Errorf("item progress (-want +got):\n%s", diff)
	}
}

func TestProgressViewQuiet(t *testing.T) {
	var out bytes.Buffer
	v := newProgressView(&out, false, true, time.Now)
	v.forVM("vm1")(api.Event{Type: api.EventStep, Kind: "vm.create", Step: "boot", Index: 1, Total: 2})
	v.tick()
	v.finish(true)
	if out.Len() != 0 {
		t.Errorf("quiet view printed %q", out.String())
	}
	// Several VM operations on a terminal: a labelled line per step.
	v = newProgressView(&out, false, false, time.Now)
	v.forVM("vm1")(api.Event{Type: api.EventStep, Kind: "vm.start", Step: "boot", Index: 1, Total: 2})
	v.finish(false)
	if got := out.String(); !strings.HasPrefix(got, "start vm1: [1/2] boot (") {
		t.Errorf("VM line = %q", got)
	}
	// A fork: the snapshot of the VM and each copy have lines of their
	// own, whatever order their events come in.
	out.Reset()
	v = newProgressView(&out, false, false, time.Now)
	fork := v.forVMs("src")
	fork(api.Event{Type: api.EventStep, Kind: "snapshot.create", Target: "src", Step: "save", Index: 1, Total: 1})
	fork(api.Event{Type: api.EventStep, Kind: "vm.restore", Target: "f-2", Step: "load-snapshot", Index: 9, Total: 12})
	fork(api.Event{Type: api.EventStep, Kind: "vm.restore", Target: "f-1", Step: "clone-disks", Index: 4, Total: 12})
	v.finish(true)
	var labels []string
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		labels = append(labels, strings.SplitN(l, " (", 2)[0])
	}
	want := []string{"snapshot.create src: [1/1] save", "restore f-2: [9/12] load-snapshot", "restore f-1: [4/12] clone-disks"}
	if diff := cmp.Diff(want, labels); diff != "" {
		t.Errorf("fork lines (-want +got):\n%s", diff)
	}
}

// TestProgressViewLive feeds the mpb view from several goroutines (run
// with -race) and checks it ends: items complete at 1, the rest are
// completed or aborted by finish, which waits for mpb.
func TestProgressViewLive(t *testing.T) {
	for _, ok := range []bool{true, false} {
		var out bytes.Buffer
		v := newProgressView(&out, true, false, time.Now)
		var wg sync.WaitGroup
		for _, bar := range []string{"", "a", "b"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 51 { // items reach 1 and complete
					v.report(api.Event{Type: api.EventStep, Step: "pull", Index: 1, Total: 1, Bar: bar,
						Detail: strings.Repeat("x", 200), Fraction: float64(i) / 50})
				}
			}()
		}
		wg.Wait()
		// A completed item's bar takes no more: an event for it must not block.
		v.report(api.Event{Type: api.EventStep, Step: "pull", Index: 1, Total: 1, Bar: "a", Fraction: 0.5})
		v.finish(ok)
		v.report(api.Event{Type: api.EventStep, Step: "late", Index: 1, Total: 1})
	}
}

// buildDaemon serves a kernel or image build: step events, then either a
// result or, with block, nothing until the client hangs up, which it
// records.
type buildDaemon struct {
	block   bool
	steps   []api.Event
	sent    chan struct{}
	hungUp  chan struct{}
	request string
}

func (f *buildDaemon) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.request = r.Method + " " + r.URL.Path
	w.Header().Set("Content-Type", api.NDJSON)
	enc := json.NewEncoder(w)
	for _, ev := range f.steps {
		_ = enc.Encode(ev)
	}
	w.(http.Flusher).Flush()
	if !f.block {
		_ = enc.Encode(api.Event{Type: api.EventResult, OpID: "op-1", Result: json.RawMessage(`{"name":"default","id":"k1"}`)})
		return
	}
	close(f.sent)
	<-r.Context().Done()
	close(f.hungUp)
}

// TestBuildJSON checks `kernel build --json`: every step event as it
// came, one JSON object a line, then a result line with the kernel.
func TestBuildJSON(t *testing.T) {
	steps := []api.Event{
		{Type: api.EventStep, OpID: "op-1", Kind: "kernel.build", Target: "default", Step: "compile", Index: 5, Total: 7,
			Detail: "  CC      init/main.o", Fraction: 0.5, Current: 800, TotalUnits: 1600, Unit: api.UnitObjects},
		{Type: api.EventStep, OpID: "op-1", Kind: "kernel.build", Target: "default", Step: "install", Index: 6, Total: 7, Fraction: 1},
	}
	f := &buildDaemon{steps: steps}
	var stdout, stderr bytes.Buffer
	a := &app{env: Env{Stdout: &stdout, Stderr: &stderr}, cl: serveFakeHandler(t, f)}
	cmd := a.kernelBuildCommand()
	quietCobra(cmd)
	cmd.SetArgs([]string{"--json"})
	if err := cmd.ExecuteContext(context.Background()); err != nil {
		t.Fatalf("kernel build --json: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("stdout has %d lines, want 3:\n%s", len(lines), stdout.String())
	}
	for i, want := range steps {
		var got api.Event
		if err := json.Unmarshal([]byte(lines[i]), &got); err != nil {
			t.Fatalf("line %d %q: %v", i+1, lines[i], err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("line %d (-want +got):\n%s", i+1, diff)
		}
	}
	if !strings.Contains(lines[0], `"current":800,"total_units":1600,"unit":"objects"`) {
		t.Errorf("count fields not in the JSON line: %s", lines[0])
	}
	var last api.Event
	if err := json.Unmarshal([]byte(lines[2]), &last); err != nil || last.Type != api.EventResult ||
		!strings.Contains(string(last.Result), `"name":"default"`) {
		t.Errorf("last line = %s (%v), want a result event holding the kernel", lines[2], err)
	}
	if stderr.Len() != 0 {
		t.Errorf("stderr = %q, want nothing with --json", stderr.String())
	}
}

// TestBuildCancelled interrupts builds part-way, as Ctrl-C does: the
// request is abandoned (the daemon sees the client hang up, which cancels
// its operation), the command ends with status 130 and says what was kept.
func TestBuildCancelled(t *testing.T) {
	tests := []struct {
		name  string
		steps []api.Event
		want  string
	}{
		{"kernel after extraction", []api.Event{
			{Type: api.EventStep, Step: "extract", Index: 3, Total: 7, Detail: "extracting /usr/src/l.tar.xz into /c/src-1"},
			{Type: api.EventStep, Step: "extract", Index: 3, Total: 7, Detail: "/c/src-1", Fraction: 1},
			{Type: api.EventStep, Step: "compile", Index: 5, Total: 7, Detail: "  CC      init/main.o", Fraction: 0.1},
		}, "banger: cancelled: the extracted kernel source in /c/src-1 is kept and reused by the next build; no kernel was recorded\n"},
		{"kernel during extraction", []api.Event{
			{Type: api.EventStep, Step: "extract", Index: 3, Total: 7, Detail: "extracting /usr/src/l.tar.xz into /c/src-1"},
		}, "banger: cancelled: the kernel source was not extracted yet, so nothing was kept; no kernel was recorded\n"},
		{"image", []api.Event{
			{Type: api.EventStep, Step: "bootstrap", Index: 2, Total: 5, Detail: "Setting up libc6", Fraction: 0.3},
		}, "banger: cancelled: the partial image was removed; no image was recorded\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := &buildDaemon{block: true, steps: tc.steps, sent: make(chan struct{}), hungUp: make(chan struct{})}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			// The JSON lines show what the CLI has taken in: interrupt
			// once it has every step.
			stdout := &lineCounter{after: len(tc.steps), then: cancel}
			var stderr bytes.Buffer
			a := &app{env: Env{Stdout: stdout, Stderr: &stderr}, cl: serveFakeHandler(t, f)}
			cmd := a.kernelBuildCommand()
			if tc.name == "image" {
				cmd = a.imageBuildCommand()
			}
			quietCobra(cmd)
			cmd.SetArgs([]string{"--json"})
			err := cmd.ExecuteContext(ctx)
			var ec exitCode
			if !errors.As(err, &ec) || ec != 130 {
				t.Errorf("build = %v, want exit status 130", err)
			}
			if got := stderr.String(); got != tc.want {
				t.Errorf("stderr = %q, want %q", got, tc.want)
			}
			select {
			case <-f.hungUp:
			case <-time.After(10 * time.Second):
				t.Errorf("the daemon's request was not cancelled")
			}
		})
	}
}

// lineCounter is a writer that calls then once it has had after lines.
type lineCounter struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	after int
	then  func()
}

func (w *lineCounter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(b)
	if bytes.Count(w.buf.Bytes(), []byte("\n")) >= w.after {
		w.then()
	}
	return len(b), nil
}

// quietCobra makes a command run alone as Run runs it: no usage or error
// printing of cobra's own.
func quietCobra(cmd *cobra.Command) {
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	cmd.SetOut(io.Discard)
	cmd.SetErr(io.Discard)
}

func TestETAText(t *testing.T) {
	tests := []struct {
		fraction, base float64
		span           time.Duration
		want           string
	}{
		{0.01, 0, time.Minute, ""},    // too early to say
		{0.5, 0, 2 * time.Second, ""}, // too soon to say
		{1, 0, time.Minute, ""},       // done
		{0.5, 0.5, time.Minute, ""},   // stuck: no rate
		{0.5, 0, 4 * time.Second, "a few seconds left"},
		{0.25, 0, 10 * time.Second, "about 30s left"},
		{0.1, 0, time.Minute, "about 9m left"},
		{0.05, 0, time.Hour, "about 19h left"},
		{0.6, 0.5, time.Minute, "about 4m left"}, // the recent rate, not the whole step's
	}
	for _, tt := range tests {
		if got := etaText(tt.fraction, tt.base, tt.span); got != tt.want {
			t.Errorf("etaText(%v, %v, %v) = %q, want %q", tt.fraction, tt.base, tt.span, got, tt.want)
		}
	}
}

// TestETAWindow: a step that went fast at first (a compile's host tools)
// and slowly since is estimated from its recent rate.
func TestETAWindow(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b := &barState{}
	f := 0.0
	for s := 0; s <= 10; s++ { // 0 to 50% in 10 s
		f = float64(s) * 0.05
		b.ev.Fraction = f
		b.addSample(start.Add(time.Duration(s)*time.Second), f)
	}
	for s := 20; s <= 210; s += 10 { // then 1% each 10 s
		f += 0.01
		b.ev.Fraction = f
		b.addSample(start.Add(time.Duration(s)*time.Second), f)
	}
	now := start.Add(210 * time.Second)
	if got, want := b.eta(now), "about 5m left"; got != want {
		t.Errorf("eta at %.0f%% = %q, want %q (the whole step's rate says %q)", f*100, got, want,
			etaText(f, 0, 210*time.Second))
	}
	if len(b.samples) > 12 {
		t.Errorf("%d samples kept, want only the last %v's", len(b.samples), etaWindow)
	}
}
