package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"banger/internal/agent/proto"
	"banger/internal/errdefs"
)

// drainTimeout is how long output is still read after the command exits,
// for grandchildren that keep its stdout open.
const drainTimeout = 500 * time.Millisecond

func (h *handler) handleExec(w http.ResponseWriter, r *http.Request) {
	if !strings.EqualFold(r.Header.Get("Upgrade"), proto.ExecUpgrade) {
		writeError(w, errdefs.InvalidArgumentf("POST /v1/exec must send 'Connection: Upgrade' and 'Upgrade: %s'", proto.ExecUpgrade))
		return
	}
	var req proto.ExecRequest
	if err := decodeJSON(w, r, &req); err != nil {
		writeError(w, err)
		return
	}
	if err := validateExec(req); err != nil {
		writeError(w, err)
		return
	}
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		writeError(w, errdefs.Internalf("take over the exec connection: %w", err))
		return
	}
	defer conn.Close()
	brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: " + proto.ExecUpgrade + "\r\n\r\n")
	if err := brw.Flush(); err != nil {
		return
	}
	s := &execSession{conn: conn, rd: brw.Reader}
	if err := s.run(r.Context(), req); err != nil {
		h.logger().Info("exec ended abnormally", "argv0", req.Argv[0], "err", err)
	}
}

func validateExec(req proto.ExecRequest) error {
	var problems []string
	if len(req.Argv) == 0 || req.Argv[0] == "" {
		problems = append(problems, "argv must name a command")
	}
	for _, kv := range req.Env {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			problems = append(problems, fmt.Sprintf("env entry %q is not KEY=value", kv))
		}
	}
	if req.Cwd != "" && !filepath.IsAbs(req.Cwd) {
		problems = append(problems, fmt.Sprintf("cwd %q is not absolute", req.Cwd))
	}
	if len(problems) > 0 {
		return errdefs.InvalidArgumentf("invalid exec request: %s", strings.Join(problems, "; "))
	}
	return nil
}

// errProtocol marks a host that broke the frame protocol.
var errProtocol = errors.New("exec protocol error")

// execSession is one upgraded exec stream.
type execSession struct {
	conn net.Conn
	rd   interface{ Read([]byte) (int, error) }
	wmu  sync.Mutex
}

func (s *execSession) send(t proto.FrameType, payload []byte) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return proto.WriteFrame(s.conn, t, payload)
}

// run starts the command, streams its I/O and sends its exit frame. It
// returns only after every goroutine it started has finished.
func (s *execSession) run(ctx context.Context, req proto.ExecRequest) error {
	p, err := startProcess(req)
	if err != nil {
		var se *startError
		if !errors.As(err, &se) {
			se = &startError{Code: 126, Msg: err.Error()}
		}
		s.send(proto.FrameError, []byte(se.Msg))
		return s.send(proto.FrameExit, proto.EncodeExit(proto.Exit{Code: se.Code}))
	}
	defer p.close()

	var pumps sync.WaitGroup
	pumps.Add(1)
	go func() { defer pumps.Done(); s.pump(p.out, proto.FrameStdout) }()
	if p.errOut != nil {
		pumps.Add(1)
		go func() { defer pumps.Done(); s.pump(p.errOut, proto.FrameStderr) }()
	}
	stdin := newStdinWriter(p)
	readerDone := make(chan error, 1)
	go func() { readerDone <- s.readFrames(p, stdin) }()
	exited := make(chan error, 1)
	go func() { exited <- p.cmd.Wait() }()

	var waitErr, failure error
	readerFinished := false
	select {
	case waitErr = <-exited:
	case <-ctx.Done():
		p.signal(syscall.SIGKILL)
		waitErr = <-exited
		failure = fmt.Errorf("agent stopping: %w", ctx.Err())
	case failure = <-readerDone:
		readerFinished = true
		p.signal(syscall.SIGKILL)
		waitErr = <-exited
	}

	pumpsDone := make(chan struct{})
	go func() { pumps.Wait(); close(pumpsDone) }()
	select {
	case <-pumpsDone:
	case <-time.After(drainTimeout):
		now := time.Now()
		p.out.SetReadDeadline(now)
		if p.errOut != nil {
			p.errOut.SetReadDeadline(now)
		}
		<-pumpsDone
	}

	if errors.Is(failure, errProtocol) {
		s.send(proto.FrameError, []byte(failure.Error()))
	}
	sendErr := s.send(proto.FrameExit, proto.EncodeExit(exitOf(p, waitErr)))
	if !readerFinished {
		s.conn.SetReadDeadline(time.Now())
		<-readerDone
	}
	stdin.stop()
	if failure != nil {
		return failure
	}
	return sendErr
}

// exitOf turns the command's wait status into an exit frame.
func exitOf(p *process, waitErr error) proto.Exit {
	st, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok {
		return proto.Exit{Code: -1}
	}
	if st.Signaled() {
		return proto.Exit{Code: 128 + int32(st.Signal()), Signal: int32(st.Signal())}
	}
	return proto.Exit{Code: int32(st.ExitStatus())}
}

// pump copies one output of the command into frames until EOF, a read
// deadline, or a failed send.
func (s *execSession) pump(f interface{ Read([]byte) (int, error) }, t proto.FrameType) {
	buf := make([]byte, 32<<10)
	for {
		n, err := f.Read(buf)
		if n > 0 {
			if s.send(t, buf[:n]) != nil {
				return
			}
		}
		if err != nil {
			return // EOF, or EIO from a PTY whose slave side is closed
		}
	}
}

// readFrames handles host frames until the stream ends. It returns a
// wrapped errProtocol for a frame it does not accept.
func (s *execSession) readFrames(p *process, stdin *stdinWriter) error {
	defer stdin.closeInput()
	for {
		f, err := proto.ReadFrame(s.rd)
		if err != nil {
			if errors.Is(err, proto.ErrFrameTooLarge) {
				return fmt.Errorf("%w: %w", errProtocol, err)
			}
			return fmt.Errorf("host closed the exec stream before the command exited: %w", err)
		}
		switch f.Type {
		case proto.FrameStdin:
			stdin.write(f.Payload)
		case proto.FrameStdinEOF:
			stdin.eof()
		case proto.FrameResize:
			rows, cols, err := proto.DecodeResize(f.Payload)
			if err != nil {
				return fmt.Errorf("%w: %w", errProtocol, err)
			}
			if p.pty != nil {
				setWinsize(p.pty, rows, cols)
			}
		case proto.FrameSignal:
			sig, err := proto.DecodeSignal(f.Payload)
			if err != nil {
				return fmt.Errorf("%w: %w", errProtocol, err)
			}
			if sig < 1 || sig > 64 {
				return fmt.Errorf("%w: signal %d is out of range 1-64", errProtocol, sig)
			}
			p.signal(syscall.Signal(sig))
		default:
			return fmt.Errorf("%w: unexpected %s frame from the host", errProtocol, f.Type)
		}
	}
}
