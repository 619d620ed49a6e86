package bench

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"
)

// span is the duration of one named phase or step of a VM's lifecycle.
type span struct {
	name string
	d    time.Duration
}

// timing is the spans of one VM's lifecycle, in the order they happened.
// Phases are named "create", steps inside them "create/copy-root-disk".
type timing []span

// get returns the duration of name and whether it was measured.
func (t timing) get(name string) (time.Duration, bool) {
	for _, s := range t {
		if s.name == name {
			return s.d, true
		}
	}
	return 0, false
}

// phaseError is a lifecycle that failed in phase.
type phaseError struct {
	phase string
	err   error
}

func (e *phaseError) Error() string { return e.phase + ": " + e.err.Error() }
func (e *phaseError) Unwrap() error { return e.err }

// outcome is what one VM's lifecycle produced: the spans it completed
// and, if it failed, why.
type outcome struct {
	t   timing
	err error
}

// results collects the outcomes of many lifecycles.
type results struct {
	order   []string // span names in first-seen order
	samples map[string][]time.Duration
	errs    []error
	vms     int
	wall    []time.Duration // wall-clock time of each batch
	cpu     []time.Duration // CPU time the daemon used in each batch
}

func (r *results) add(outs []outcome, wall time.Duration) {
	if r.samples == nil {
		r.samples = map[string][]time.Duration{}
	}
	r.wall = append(r.wall, wall)
	for _, o := range outs {
		r.vms++
		if o.err != nil {
			r.errs = append(r.errs, o.err)
		}
		for _, s := range o.t {
			if _, seen := r.samples[s.name]; !seen {
				r.order = append(r.order, s.name)
			}
			r.samples[s.name] = append(r.samples[s.name], s.d)
		}
	}
}

// pct returns the p-th percentile of name, false when it has no samples.
func (r *results) pct(name string, p float64) (time.Duration, bool) {
	s := r.samples[name]
	if len(s) == 0 {
		return 0, false
	}
	return percentile(s, p), true
}

// derive adds, for every VM that has all of parts, a span name holding
// fn of their durations.
func derive(outs []outcome, name string, parts []string, fn func([]time.Duration) time.Duration) {
	for i, o := range outs {
		ds := make([]time.Duration, 0, len(parts))
		for _, p := range parts {
			d, ok := o.t.get(p)
			if !ok {
				break
			}
			ds = append(ds, d)
		}
		if len(ds) == len(parts) {
			outs[i].t = append(outs[i].t, span{name, fn(ds)})
		}
	}
}

// errorsByPhase counts errors per phase and lists up to max distinct
// messages.
func (r *results) errorsByPhase(max int) (counts map[string]int, msgs []string) {
	counts = map[string]int{}
	seen := map[string]bool{}
	for _, err := range r.errs {
		phase := "?"
		var pe *phaseError
		if errors.As(err, &pe) {
			phase = pe.phase
		}
		counts[phase]++
		if msg := err.Error(); !seen[msg] && len(msgs) < max {
			seen[msg] = true
			msgs = append(msgs, msg)
		}
	}
	return counts, msgs
}

// formatCounts prints counts as "create=2 start=1", sorted, or "none".
func formatCounts(counts map[string]int) string {
	if len(counts) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, counts[k])
	}
	return strings.Join(parts, " ")
}

// percentile is the nearest-rank p-th percentile (0 < p <= 100) of ds,
// which must not be empty. ds is not modified.
func percentile(ds []time.Duration, p float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	return s[min(max(rank, 1), len(s))-1]
}

// ms formats d in milliseconds with one decimal.
func ms(d time.Duration) string { return fmt.Sprintf("%.1f", msf(d)) }

// msf is d in milliseconds.
func msf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// verdict says whether a goal was met.
func verdict(met bool) string {
	if met {
		return "goal met"
	}
	return "goal missed"
}
