package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"golang.org/x/term"

	"banger/internal/api"
	"banger/internal/client"
)

// writeJSON prints v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// table prints rows under a header, aligned.
func table(w io.Writer, header []string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		for _, line := range tableLines(r) {
			fmt.Fprintln(tw, strings.Join(line, "\t"))
		}
	}
	return tw.Flush()
}

// tableLines splits a row whose cells span lines into one table line per
// line of its tallest cell, each cell's continuation lines under the cell
// (the other columns blank), so that a multi-line detail keeps the columns
// aligned. A tab in a cell would start a new column: it becomes a space.
func tableLines(row []string) [][]string {
	cells := make([][]string, len(row))
	height := 1
	for i, c := range row {
		c = strings.ReplaceAll(strings.TrimRight(c, "\n"), "\t", " ")
		cells[i] = strings.Split(c, "\n")
		height = max(height, len(cells[i]))
	}
	lines := make([][]string, height)
	for l := range lines {
		lines[l] = make([]string, len(row))
		for i, c := range cells {
			if l < len(c) {
				lines[l][i] = c[l]
			}
		}
	}
	return lines
}

// since renders a past time as a coarse age ("3m", "2h", "5d").
func since(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	default:
		return fmt.Sprintf("%dd", int(d.Hours()/24))
	}
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// progress draws operation steps on stderr when it is a terminal: one
// updating line per VM. Elsewhere it prints nothing.
type progress struct {
	mu    sync.Mutex
	w     io.Writer
	live  bool
	multi bool
}

func (a *app) newProgress(multi bool) *progress {
	return &progress{w: a.env.Stderr, live: isTerminal(a.env.Stderr), multi: multi}
}

// for returns the client callback that reports progress for one VM.
func (p *progress) forVM(name string) client.Progress {
	return func(ev api.Event) {
		if !p.live || ev.Type != api.EventStep {
			return
		}
		target := ev.Target
		if target == "" {
			target = name
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		verb := strings.TrimPrefix(ev.Kind, "vm.")
		if p.multi {
			fmt.Fprintf(p.w, "%s %s: [%d/%d] %s\n", verb, target, ev.Index, ev.Total, ev.Step)
			return
		}
		fmt.Fprintf(p.w, "\r\033[K%s %s: [%d/%d] %s", verb, target, ev.Index, ev.Total, ev.Step)
	}
}

// done clears the live line.
func (p *progress) done() {
	if p.live && !p.multi {
		p.mu.Lock()
		fmt.Fprint(p.w, "\r\033[K")
		p.mu.Unlock()
	}
}
