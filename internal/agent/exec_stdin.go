package agent

import (
	"os"
	"time"
)

// stdinWriter feeds stdin frames to the command from its own goroutine, so
// that a command that does not read its input cannot stall the frame
// reader (and with it resize and signal frames) until the queue is full.
type stdinWriter struct {
	f    *os.File // nil when the request did not ask for stdin
	pty  bool
	ch   chan []byte // a nil element means end of input
	done chan struct{}
	eofd bool
}

func newStdinWriter(p *process) *stdinWriter {
	w := &stdinWriter{f: p.stdin, pty: p.pty != nil, ch: make(chan []byte, 64), done: make(chan struct{})}
	if w.f == nil {
		close(w.done)
		return w
	}
	go w.loop()
	return w
}

func (w *stdinWriter) loop() {
	defer close(w.done)
	broken := false
	for b := range w.ch {
		switch {
		case broken:
		case b != nil:
			if _, err := w.f.Write(b); err != nil {
				broken = true // the command closed its input or exited
			}
		case w.pty:
			// A terminal has no end of input; in canonical mode the EOF
			// character makes the reader see one.
			if c, ok := eofChar(w.f); ok {
				w.f.Write([]byte{c})
			}
		default:
			w.f.Close()
			broken = true
		}
	}
}

// write queues stdin data; it is called only by the frame reader.
func (w *stdinWriter) write(b []byte) {
	if w.f != nil && !w.eofd && len(b) > 0 {
		w.ch <- b
	}
}

// eof queues the end of input; it is called only by the frame reader.
func (w *stdinWriter) eof() {
	if w.f != nil && !w.eofd {
		w.eofd = true
		w.ch <- nil
	}
}

// closeInput ends the queue; the frame reader calls it once, when it stops.
func (w *stdinWriter) closeInput() { close(w.ch) }

// stop unblocks a pending write and waits for the goroutine. It is called
// after closeInput.
func (w *stdinWriter) stop() {
	if w.f != nil {
		w.f.SetWriteDeadline(time.Now())
	}
	<-w.done
}
