package bench

import (
	"errors"
	"os"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestPercentile(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name string
		ds   []time.Duration
		p    float64
		want time.Duration
	}{
		{"one sample p50", []time.Duration{7 * ms}, 50, 7 * ms},
		{"one sample p95", []time.Duration{7 * ms}, 95, 7 * ms},
		{"even count p50 is lower middle", []time.Duration{4 * ms, 1 * ms, 3 * ms, 2 * ms}, 50, 2 * ms},
		{"odd count p50 is middle", []time.Duration{5 * ms, 1 * ms, 3 * ms}, 50, 3 * ms},
		{"p95 of 20", durations(20), 95, 19 * ms},
		{"p95 of 100", durations(100), 95, 95 * ms},
		{"p100 is max", durations(10), 100, 10 * ms},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := append([]time.Duration(nil), tt.ds...)
			if got := percentile(tt.ds, tt.p); got != tt.want {
				t.Errorf("percentile(%v, %v) = %v, want %v", tt.ds, tt.p, got, tt.want)
			}
			if !cmp.Equal(tt.ds, in) {
				t.Errorf("percentile changed its input: %v, was %v", tt.ds, in)
			}
		})
	}
}

// durations returns 1ms..n ms in reverse order.
func durations(n int) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = time.Duration(n-i) * time.Millisecond
	}
	return out
}

func TestResults(t *testing.T) {
	ms := time.Millisecond
	outs := []outcome{
		{t: timing{{"create", 10 * ms}, {"create/copy", 4 * ms}, {"total", 30 * ms}}},
		{t: timing{{"create", 20 * ms}, {"create/copy", 6 * ms}, {"total", 50 * ms}}},
		{t: timing{{"create", 30 * ms}}, err: &phaseError{"start", errors.New("boom")}},
		{err: &phaseError{"create", errors.New("no space")}},
	}
	derive(outs, "rest", []string{"total", "create/copy"}, func(ds []time.Duration) time.Duration { return ds[0] - ds[1] })
	var r results
	r.add(outs, time.Second)

	if got, want := r.order, []string{"create", "create/copy", "total", "rest"}; !cmp.Equal(got, want) {
		t.Errorf("order = %v, want %v", got, want)
	}
	if got, want := r.samples["rest"], []time.Duration{26 * ms, 44 * ms}; !cmp.Equal(got, want) {
		t.Errorf("derived rest = %v, want %v", got, want)
	}
	if got, _ := r.pct("create", 50); got != 20*ms {
		t.Errorf("create p50 = %v, want 20ms", got)
	}
	if _, ok := r.pct("start", 50); ok {
		t.Error("start p50 measured without samples")
	}
	counts, msgs := r.errorsByPhase(1)
	if got, want := counts, map[string]int{"start": 1, "create": 1}; !cmp.Equal(got, want) {
		t.Errorf("error counts = %v, want %v", got, want)
	}
	if got, want := msgs, []string{"start: boom"}; !cmp.Equal(got, want) {
		t.Errorf("error messages = %v, want %v", got, want)
	}
	if got, want := formatCounts(counts), "create=1 start=1"; got != want {
		t.Errorf("formatCounts = %q, want %q", got, want)
	}
	if got, want := r.vms, 4; got != want {
		t.Errorf("vms = %d, want %d", got, want)
	}
}

func TestParseStatus(t *testing.T) {
	status := "Name:\tbangerd\nVmHWM:\t   20480 kB\nVmRSS:\t   12345 kB\nThreads:\t8\n"
	tests := []struct {
		field   string
		want    int64
		wantErr bool
	}{
		{"VmRSS", 12345, false},
		{"VmHWM", 20480, false},
		{"Threads", 0, true},
		{"VmSwap", 0, true},
	}
	for _, tt := range tests {
		got, err := parseStatus(status, tt.field)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("parseStatus(%s) = %d, %v; want %d, error %v", tt.field, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestStatusOfSelf(t *testing.T) {
	rss, err := statusKiB(os.Getpid(), "VmRSS")
	if err != nil {
		t.Skipf("needs /proc/<pid>/status: %v", err)
	}
	if rss <= 0 {
		t.Errorf("VmRSS of the test = %d KiB, want > 0", rss)
	}
}

func TestParseCPUTime(t *testing.T) {
	tests := []struct {
		name    string
		stat    string
		want    time.Duration
		wantErr bool
	}{
		{"plain", "42 (bangerd) S 1 42 42 0 -1 4194560 100 0 0 0 150 25 0 0 20 0 8 0", 1750 * time.Millisecond, false},
		{"name with spaces and parens", "7 (a b) c)) R 1 7 7 0 -1 0 0 0 0 0 3 4 0 0", 70 * time.Millisecond, false},
		{"truncated", "7 (x) R 1 7", 0, true},
		{"no name", "garbage", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseCPUTime(tt.stat)
			if got != tt.want || (err != nil) != tt.wantErr {
				t.Errorf("parseCPUTime = %v, %v; want %v, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestStatTicksCountsWaitedChildren(t *testing.T) {
	stat := "42 (bangerd) S 1 42 42 0 -1 4194560 100 0 0 0 150 25 300 45 20 0 8 0"
	if got, err := statTicks(stat, 4); got != 5200*time.Millisecond || err != nil {
		t.Errorf("statTicks(4) = %v, %v; want 5.2s (utime+stime+cutime+cstime)", got, err)
	}
	if _, err := statTicks("7 (x) R 1 7 7 0 -1 0 0 0 0 0 3 4 5", 4); err == nil {
		t.Error("statTicks(4) of a line without cstime: no error")
	}
}
