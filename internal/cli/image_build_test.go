package cli

import (
	"bytes"
	"strings"
	"testing"

	"banger/internal/api"
)

func TestBuildProgress(t *testing.T) {
	evs := []api.Event{
		{Type: api.EventStep, Step: "check-tools", Index: 1, Total: 5},
		{Type: api.EventStep, Step: "bootstrap", Index: 2, Total: 5},
		{Type: api.EventStep, Step: "bootstrap", Index: 2, Total: 5, Detail: strings.Repeat("x", 300), Fraction: 0.45},
		{Type: api.EventResult},
	}
	var plain bytes.Buffer
	p := newBuildProgress(&plain, false)
	for _, ev := range evs {
		p.report(ev)
	}
	p.done()
	lines := strings.Split(strings.TrimSpace(plain.String()), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "[1/5] check-tools (") || !strings.HasPrefix(lines[1], "[2/5] bootstrap (") {
		t.Errorf("plain progress = %q, want one line per step", plain.String())
	}

	var live bytes.Buffer
	p = newBuildProgress(&live, true)
	for _, ev := range evs {
		p.report(ev)
	}
	p.done()
	for _, upd := range strings.Split(live.String(), "\r\033[K")[1:] {
		if n := len([]rune(upd)); n > 100 {
			t.Errorf("live line of %d runes, want at most 100: %q", n, upd)
		}
	}
	if !strings.Contains(live.String(), "[2/5] bootstrap  45%") {
		t.Errorf("live progress %q does not show the fraction", live.String())
	}
}
