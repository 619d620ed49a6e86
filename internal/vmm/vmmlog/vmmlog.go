// Package vmmlog handles the files a VMM process writes to, for the
// drivers: opening a console or VMM log for appending (private, created on
// demand), creating or emptying a file the VMM opens but does not create,
// and reading back what one start wrote, to explain a VMM that died
// during start-up. It does not start or watch processes.
package vmmlog

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// OpenAppend opens path for appending, creating it with mode 0600, and
// returns the offset where this run's output will start.
func OpenAppend(path string) (*os.File, int64, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, 0, err
	}
	off, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, off, nil
}

// Reset creates path (mode 0600) or empties it, for a file the VMM opens
// without creating it and writes from offset 0 without truncating
// (Firecracker's log and metrics files), so that a previous run's longer
// output does not trail the new one. A FIFO or other non-regular file is
// left alone.
func Reset(path string) error {
	if info, err := os.Stat(path); err == nil && !info.Mode().IsRegular() {
		return nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	return f.Close()
}

// Tail returns the last n lines written to path at or after offset from
// (reading at most the last 8 KiB), or a note saying there were none or why
// they cannot be read.
func Tail(path string, from int64, n int) string {
	const window = 8 << 10
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	start := max(from, info.Size()-window)
	buf := make([]byte, max(info.Size()-start, 0))
	if len(buf) > 0 {
		if _, err := f.ReadAt(buf, start); err != nil && !errors.Is(err, io.EOF) {
			return fmt.Sprintf("(cannot read %s: %v)", path, err)
		}
	}
	text := strings.TrimRight(string(buf), "\n")
	if strings.TrimSpace(text) == "" {
		return "(no output)"
	}
	lines := strings.Split(text, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
