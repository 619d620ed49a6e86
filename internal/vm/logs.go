package vm

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"time"
)

// logPoll is how often a followed console log is checked for growth.
const logPoll = 100 * time.Millisecond

// Logs writes the VM's serial console log to w: the last tail lines (all
// when tail <= 0) and then, when follow is set, whatever the guest writes
// until ctx is done or the VM stops.
func (s *Service) Logs(ctx context.Context, ref string, tail int, follow bool, w io.Writer) error {
	rec, err := s.store.GetVM(ctx, ref)
	if err != nil {
		return err
	}
	path := filepath.Join(rec.Dir, consoleLogFile)
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		if !follow {
			return nil
		}
	} else if err != nil {
		return err
	}
	var off int64
	if f != nil {
		off, err = writeTail(f, tail, w)
		_ = f.Close()
		if err != nil {
			return err
		}
	}
	if !follow {
		return nil
	}
	flush(w)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(logPoll):
		}
		n, err := copyFrom(path, off, w)
		off += n
		if err != nil {
			return err
		}
		if n > 0 {
			flush(w)
			continue
		}
		cur, err := s.store.GetVM(ctx, rec.ID)
		if err != nil || (State(cur.State) != StateRunning && State(cur.State) != StateStarting && State(cur.State) != StatePaused) {
			return nil // the VM is gone or stopped and everything it wrote was sent
		}
	}
}

func flush(w io.Writer) {
	if f, ok := w.(interface{ Flush() }); ok {
		f.Flush()
	}
}

// copyFrom copies path from offset off to w and returns the bytes copied.
// A file that shrank (rotated at start) is read again from the beginning.
func copyFrom(path string, off int64, w io.Writer) (int64, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	} else if err != nil {
		return 0, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() < off {
		off = 0
	}
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return 0, err
	}
	return io.Copy(w, f)
}

// writeTail writes the last n lines of f (all of it when n <= 0) and
// returns the offset it read up to.
func writeTail(f *os.File, n int, w io.Writer) (int64, error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	size := fi.Size()
	start := int64(0)
	if n > 0 {
		start = tailOffset(f, size, n)
	}
	if _, err := f.Seek(start, io.SeekStart); err != nil {
		return 0, err
	}
	copied, err := io.Copy(w, io.LimitReader(f, size-start))
	return start + copied, err
}

// tailOffset finds where the last n lines of a file of size bytes begin by
// reading backwards in blocks.
func tailOffset(f *os.File, size int64, n int) int64 {
	const block = 16 << 10
	buf := make([]byte, block)
	pos := size
	lines := 0
	// A final newline ends the last line; it does not start a new one.
	skipLast := true
	for pos > 0 {
		sz := int64(block)
		if pos < sz {
			sz = pos
		}
		pos -= sz
		if _, err := f.ReadAt(buf[:sz], pos); err != nil && !errors.Is(err, io.EOF) {
			return 0
		}
		chunk := buf[:sz]
		for i := len(chunk) - 1; i >= 0; i-- {
			if chunk[i] != '\n' {
				skipLast = false
				continue
			}
			if skipLast && pos+int64(i) == size-1 {
				skipLast = false
				continue
			}
			lines++
			if lines == n {
				return pos + int64(i) + 1
			}
		}
	}
	return 0
}
