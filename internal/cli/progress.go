package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"banger/internal/api"
	"banger/internal/client"
)

// plainEvery is how often, at most, the plain view prints a line for a bar
// whose step has not changed, and how often it repeats the line of a bar
// that had no event, so a log shows the work is alive.
const plainEvery = 5 * time.Second

// barScale is the resolution of a live bar: fractions are drawn in
// thousandths.
const barScale = 1000

// detailWidth bounds the line of tool output shown after a bar.
const detailWidth = 48

// progressView shows the step events of one or more operations. On a
// terminal (live) it draws one bar per operation, and one per item of a
// step that works on several at once (api.Event.Bar), with mpb: step,
// percent, count, time left and the latest output. Elsewhere (plain) it
// prints a line when a step starts and then at most one every plainEvery
// (also when no event came, so a log shows the work is alive); a quiet
// view prints nothing off a terminal.
type progressView struct {
	// barMu orders the calls into mpb, which draws from its own goroutines
	// with decorators that take mu: mpb is never called with mu held.
	barMu sync.Mutex
	mu    sync.Mutex
	w     io.Writer
	live  bool
	quiet bool
	now   func() time.Time
	start time.Time
	bars  map[string]*barState
	order []string

	mp     *mpb.Progress // live only
	ticker *time.Ticker  // plain only, between startTicker and finish
	stop   chan struct{}
	ended  bool
	// recorded is the last detail of each step of events that were only
	// recorded.
	recorded map[string]string
}

// barState is what the view knows of one bar.
type barState struct {
	label    string // the VM for VM operations, the item for item bars
	ev       api.Event
	samples  []sample          // how far the step was when, over the last etaWindow
	lastLine time.Time         // plain: when the last line was printed
	bar      *mpb.Bar          // under barMu
	details  map[string]string // the last detail of each step
}

// sample is how far a step had got at a time.
type sample struct {
	t time.Time
	f float64
}

// etaWindow is how far back the time left is estimated from: the rate of
// the last minute and a half, not of the whole step, whose start may have
// gone faster or slower (a kernel compile builds its host tools first).
const etaWindow = 90 * time.Second

// addSample records how far the step has got, at most once a second,
// keeping one sample at least etaWindow old.
func (b *barState) addSample(now time.Time, f float64) {
	if n := len(b.samples); n > 0 && now.Sub(b.samples[n-1].t) < time.Second {
		return
	}
	b.samples = append(b.samples, sample{now, f})
	for len(b.samples) > 2 && now.Sub(b.samples[1].t) >= etaWindow {
		b.samples = b.samples[1:]
	}
}

// eta is the time left of b's step as text, from the rate since its
// oldest sample.
func (b *barState) eta(now time.Time) string {
	if len(b.samples) == 0 {
		return ""
	}
	base := b.samples[0]
	return etaText(b.ev.Fraction, base.f, now.Sub(base.t))
}

// newProgressView returns a view writing to w, live when w is a terminal.
// quiet views print nothing off a terminal (VM operations: short, and
// scripts read their stderr).
func newProgressView(w io.Writer, live, quiet bool, now func() time.Time) *progressView {
	v := &progressView{w: w, live: live, quiet: quiet, now: now, start: now(), bars: map[string]*barState{}}
	if live {
		v.mp = mpb.New(mpb.WithOutput(w), mpb.WithWidth(24), mpb.WithRefreshRate(200*time.Millisecond))
	}
	return v
}

// buildView is the view of a kernel or image build on the app's stderr,
// repeating its plain line every plainEvery until finish.
func (a *app) buildView() *progressView {
	v := newProgressView(a.env.Stderr, isTerminal(a.env.Stderr), false, time.Now)
	v.startTicker()
	return v
}

// vmView is the view of VM operations on a terminal: a live bar for one
// operation, a line per step for several at once (their results are
// printed as they finish, which would break up bars); nothing elsewhere.
func (a *app) vmView(multi bool) *progressView {
	term := isTerminal(a.env.Stderr)
	return newProgressView(a.env.Stderr, term && !multi, !term, time.Now)
}

// startTicker makes a plain view repeat its lines while no event comes.
func (v *progressView) startTicker() {
	if v.live || v.quiet {
		return
	}
	v.ticker = time.NewTicker(time.Second)
	v.stop = make(chan struct{})
	go func(c <-chan time.Time, stop <-chan struct{}) {
		for {
			select {
			case <-c:
				v.tick()
			case <-stop:
				return
			}
		}
	}(v.ticker.C, v.stop)
}

// report is the client callback: it takes every event of an operation.
func (v *progressView) report(ev api.Event) { v.reportFor("", "", ev) }

// forVM returns the callback for the operation on VM name, whose bar is
// labelled with the operation and the VM ("create brave-otter").
func (v *progressView) forVM(name string) func(api.Event) {
	return func(ev api.Event) {
		target := ev.Target
		if target == "" {
			target = name
		}
		v.reportFor(name, strings.TrimPrefix(ev.Kind, "vm.")+" "+target, ev)
	}
}

// forVMs returns the callback for an operation on VM name that makes
// other VMs (vm fork): the events of each VM, name's own or a copy's,
// have a bar or lines of their own, labelled with their operation and
// VM ("restore f-2").
func (v *progressView) forVMs(name string) func(api.Event) {
	return func(ev api.Event) {
		target := ev.Target
		if target == "" {
			target = name
		}
		v.reportFor(target, strings.TrimPrefix(ev.Kind, "vm.")+" "+target, ev)
	}
}

// reportFor takes an event for the bar named by key (and ev.Bar).
func (v *progressView) reportFor(key, label string, ev api.Event) {
	if ev.Type != api.EventStep {
		return
	}
	label = strings.TrimSpace(label)
	key += "\x00" + ev.Bar
	if ev.Bar != "" {
		label = strings.TrimSpace(label + " " + ev.Bar)
	}
	v.barMu.Lock()
	defer v.barMu.Unlock()
	v.mu.Lock()
	if v.ended {
		v.mu.Unlock()
		return
	}
	now := v.now()
	b := v.bars[key]
	newStep := b == nil || b.ev.Index != ev.Index || b.ev.Step != ev.Step
	if b == nil {
		b = &barState{label: label, details: map[string]string{}}
		v.bars[key] = b
		v.order = append(v.order, key)
	}
	if newStep {
		b.samples = b.samples[:0]
	}
	b.ev = ev
	b.addSample(now, ev.Fraction)
	if ev.Detail != "" {
		b.details[ev.Step] = ev.Detail
	}
	if !v.live && !v.quiet && (newStep || now.Sub(b.lastLine) >= plainEvery) {
		v.printLine(b, now)
	}
	v.mu.Unlock()
	if v.live {
		if b.bar == nil {
			b.bar = v.newBar(b)
		}
		b.bar.SetCurrent(int64(math.Round(clamp01(ev.Fraction) * (barScale - 1))))
		if ev.Bar != "" && ev.Fraction >= 1 {
			b.bar.SetTotal(-1, true) // an item is done; the operation's bar goes on to its next step
		}
	}
}

// record keeps what an event says without showing it (the JSON output
// shows the events themselves).
func (v *progressView) record(ev api.Event) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if ev.Type == api.EventStep && ev.Detail != "" {
		if v.recorded == nil {
			v.recorded = map[string]string{}
		}
		v.recorded[ev.Step] = ev.Detail
	}
}

// tick repeats the line of every bar that printed nothing for plainEvery.
func (v *progressView) tick() {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.live || v.quiet || v.ended {
		return
	}
	now := v.now()
	for _, k := range v.order {
		if b := v.bars[k]; now.Sub(b.lastLine) >= plainEvery {
			v.printLine(b, now)
		}
	}
}

func (v *progressView) printLine(b *barState, now time.Time) {
	b.lastLine = now
	line := v.describe(b, now)
	if b.ev.Detail != "" {
		line += "  " + truncate(strings.TrimSpace(b.ev.Detail), 2*detailWidth)
	}
	fmt.Fprintln(v.w, line)
}

// describe is a bar's state as text: "[5/8] compile 42% 712/1690 objects,
// about 3m left (2m10s)", prefixed by its label.
func (v *progressView) describe(b *barState, now time.Time) string {
	var s strings.Builder
	if b.label != "" {
		s.WriteString(b.label + ": ")
	}
	s.WriteString(stepText(b.ev))
	if f := b.ev.Fraction; f > 0 {
		fmt.Fprintf(&s, " %3.0f%%", math.Floor(clamp01(f)*100))
	}
	if c := countText(b.ev); c != "" {
		s.WriteString(" " + c)
	}
	if eta := b.eta(now); eta != "" {
		s.WriteString(", " + eta)
	}
	fmt.Fprintf(&s, " (%s)", now.Sub(v.start).Round(time.Second))
	return s.String()
}

// newBar adds the live bar of b: "[5/8] compile [=====>   ] 42% 712/1690
// objects, about 3m left 2m10s  CC fs/ext4/inode.o".
func (v *progressView) newBar(b *barState) *mpb.Bar {
	read := func(f func(now time.Time) string) decor.Decorator {
		return decor.Any(func(decor.Statistics) string {
			v.mu.Lock()
			defer v.mu.Unlock()
			return f(v.now())
		})
	}
	return v.mp.New(barScale, mpb.BarStyle().Lbound("[").Rbound("]"),
		mpb.PrependDecorators(read(func(time.Time) string {
			if b.label != "" {
				return b.label + ": " + stepText(b.ev)
			}
			return stepText(b.ev)
		})),
		mpb.AppendDecorators(read(func(now time.Time) string {
			var parts []string
			if f := b.ev.Fraction; f > 0 {
				parts = append(parts, fmt.Sprintf("%3.0f%%", math.Floor(clamp01(f)*100)))
			}
			if c := countText(b.ev); c != "" {
				parts = append(parts, c)
			}
			if eta := b.eta(now); eta != "" {
				parts = append(parts, eta)
			}
			parts = append(parts, now.Sub(v.start).Round(time.Second).String())
			if b.ev.Detail != "" {
				parts = append(parts, " "+truncate(strings.TrimSpace(b.ev.Detail), detailWidth))
			}
			return strings.Join(parts, " ")
		})))
}

// finish ends the view: live bars are completed when ok, else left where
// they stopped; the plain ticker stops.
func (v *progressView) finish(ok bool) {
	v.barMu.Lock()
	defer v.barMu.Unlock()
	v.mu.Lock()
	if v.ended {
		v.mu.Unlock()
		return
	}
	v.ended = true
	if v.ticker != nil {
		v.ticker.Stop()
		close(v.stop)
	}
	var bars []*mpb.Bar
	for _, k := range v.order {
		bars = append(bars, v.bars[k].bar)
	}
	v.mu.Unlock()
	if v.mp == nil {
		return
	}
	for _, b := range bars {
		if b == nil {
			continue
		}
		if ok {
			b.SetTotal(-1, true)
		} else {
			b.Abort(false)
		}
	}
	v.mp.Wait()
}

// lastDetail returns the last detail the operation reported in step, if
// any (e.g. the directory of the extracted kernel source).
func (v *progressView) lastDetail(step string) string {
	v.mu.Lock()
	defer v.mu.Unlock()
	if d := v.recorded[step]; d != "" {
		return d
	}
	keys := append([]string(nil), v.order...)
	sort.Strings(keys)
	for _, k := range keys {
		if d := v.bars[k].details[step]; d != "" {
			return d
		}
	}
	return ""
}

// elapsed is the time since the view started.
func (v *progressView) elapsed() time.Duration { return v.now().Sub(v.start) }

func stepText(ev api.Event) string {
	if ev.Total > 0 {
		return fmt.Sprintf("[%d/%d] %s", ev.Index, ev.Total, ev.Step)
	}
	return ev.Step
}

// countText is an event's count: "712/1690 objects", "12.5 MiB/30.0 MiB".
func countText(ev api.Event) string {
	if ev.TotalUnits <= 0 {
		return ""
	}
	if ev.Unit == api.UnitBytes {
		return humanBytes(ev.Current) + "/" + humanBytes(ev.TotalUnits)
	}
	return strings.TrimSpace(fmt.Sprintf("%d/%d %s", ev.Current, ev.TotalUnits, ev.Unit))
}

// etaText estimates the time left of a step that has got to fraction,
// having gone from base in span, once there is enough to go on: "about
// 3m left", "about 40s left".
func etaText(fraction, base float64, span time.Duration) string {
	if fraction < 0.02 || fraction >= 1 || fraction <= base || span < 3*time.Second {
		return ""
	}
	left := time.Duration(float64(span) * (1 - fraction) / (fraction - base))
	switch {
	case left < 5*time.Second:
		return "a few seconds left"
	case left < time.Minute:
		return fmt.Sprintf("about %ds left", int(left.Round(5*time.Second).Seconds()))
	case left < time.Hour:
		return fmt.Sprintf("about %dm left", int(left.Round(time.Minute).Minutes()))
	}
	return fmt.Sprintf("about %.0fh left", left.Hours())
}

func clamp01(f float64) float64 { return min(max(f, 0), 1) }

// truncate shortens s to n runes, marking the cut.
func truncate(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// watchBuild runs a kernel or image build: with progress on stderr, or,
// asJSON, with its step events as JSON lines on stdout as they come and a
// last "result" line holding what was built. When ctx ends first (Ctrl-C)
// it prints "cancelled: " and what kept says was kept, and returns exit
// status 130.
func watchBuild[T any](ctx context.Context, a *app, asJSON bool, kept func(*progressView) string, build func(client.Progress) (T, error)) (T, time.Duration, error) {
	var v *progressView
	if asJSON {
		v = newProgressView(a.env.Stderr, false, true, time.Now)
	} else {
		v = a.buildView()
	}
	progress := v.report
	if asJSON {
		enc := json.NewEncoder(a.env.Stdout)
		var mu sync.Mutex
		progress = func(ev api.Event) {
			v.record(ev)
			mu.Lock()
			defer mu.Unlock()
			_ = enc.Encode(ev)
		}
	}
	res, err := build(progress)
	v.finish(err == nil)
	took := v.elapsed()
	if err != nil && ctx.Err() != nil {
		fmt.Fprintf(a.env.Stderr, "banger: cancelled: %s\n", kept(v))
		return res, took, exitCode(130)
	}
	if err == nil && asJSON {
		b, merr := json.Marshal(res)
		if merr != nil {
			return res, took, merr
		}
		err = json.NewEncoder(a.env.Stdout).Encode(api.Event{Type: api.EventResult, Time: time.Now(), Result: b})
	}
	return res, took, err
}

// keptByKernelBuild says what a cancelled kernel build leaves: the
// extracted source once its extraction finished, nothing before.
func keptByKernelBuild(v *progressView) string {
	d := v.lastDetail("extract")
	if d == "" || strings.HasPrefix(d, "extracting ") {
		return "the kernel source was not extracted yet, so nothing was kept; no kernel was recorded"
	}
	return "the extracted kernel source in " + strings.TrimPrefix(d, "reusing ") +
		" is kept and reused by the next build; no kernel was recorded"
}

// keptByKernelFetch says what a cancelled kernel fetch leaves: a .deb
// apt-get finished downloading stays in the cache for the next fetch.
func keptByKernelFetch(*progressView) string {
	return "a package download that finished is kept in the cache and reused; no kernel was recorded"
}

// keptByImageBuild says what a cancelled image build leaves: nothing.
func keptByImageBuild(*progressView) string {
	return "the partial image was removed; no image was recorded"
}
