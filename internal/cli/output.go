package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/term"
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
