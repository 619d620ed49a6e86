package agentclient

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"time"

	"banger/internal/agent/proto"
	"banger/internal/errdefs"
)

// stdinChunk is the largest stdin frame the client sends.
const stdinChunk = 32 << 10

// Process is a command running in the guest. Call Wait exactly once.
type Process struct {
	conn   net.Conn
	rd     *bufio.Reader
	stdout io.Writer
	stderr io.Writer
	stop   func() bool

	wmu    sync.Mutex
	done   chan struct{}
	code   int
	err    error
	closed bool // stdin EOF sent
}

// ExecError is the agent's explanation of why a command did not run or was
// cut short. Code is the exit code reported with it (127: not found).
type ExecError struct {
	Code    int
	Message string
}

func (e *ExecError) Error() string { return "agent: " + e.Message }

// Exec starts req in the guest. The command's output is written to stdout
// and stderr (nil discards) from the Process's own goroutine, in order;
// with req.TTY everything arrives on stdout. Cancelling ctx ends the
// command: the agent kills its process group when the stream goes away.
func (c *Client) Exec(ctx context.Context, req proto.ExecRequest, stdout, stderr io.Writer) (*Process, error) {
	stream, rd, stop, err := c.openExec(ctx, req)
	if err != nil {
		return nil, err
	}
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	p := &Process{conn: stream, rd: rd, stdout: stdout, stderr: stderr, stop: stop, done: make(chan struct{})}
	go p.readLoop(ctx)
	return p, nil
}

// ExecStream starts req in the guest and returns the raw exec stream, for a
// caller that relays the frames of package proto itself (the daemon, which
// passes them on to the CLI). Cancelling ctx closes the stream, and the
// agent then kills the command.
func (c *Client) ExecStream(ctx context.Context, req proto.ExecRequest) (io.ReadWriteCloser, error) {
	stream, rd, stop, err := c.openExec(ctx, req)
	if err != nil {
		return nil, err
	}
	return &rawExec{Conn: stream, rd: rd, stop: stop}, nil
}

// rawExec is an upgraded exec stream whose first bytes may already sit in
// the reader that parsed the agent's 101 response.
type rawExec struct {
	net.Conn
	rd   *bufio.Reader
	stop func() bool
}

func (r *rawExec) Read(b []byte) (int, error) { return r.rd.Read(b) }

func (r *rawExec) Close() error {
	r.stop()
	return r.Conn.Close()
}

// openExec opens a stream, asks the agent to run req and waits for it to
// switch protocols. stop releases the context watch that closes the stream.
func (c *Client) openExec(ctx context.Context, req proto.ExecRequest) (net.Conn, *bufio.Reader, func() bool, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, nil, nil, errdefs.InvalidArgumentf("encode exec request: %w", err)
	}
	return c.openUpgrade(ctx, "/exec", proto.ExecUpgrade, body)
}

// openUpgrade opens a stream, POSTs body to path asking to switch to
// protocol upgrade, and waits for the agent to switch.
func (c *Client) openUpgrade(ctx context.Context, path, upgrade string, body []byte) (net.Conn, *bufio.Reader, func() bool, error) {
	stream, err := c.sess.Open()
	if err != nil {
		return nil, nil, nil, c.transportError(ctx, http.MethodPost, path, err)
	}
	stop := context.AfterFunc(ctx, func() { stream.SetDeadline(time.Now()); stream.Close() })
	fail := func(err error) (net.Conn, *bufio.Reader, func() bool, error) {
		stop()
		stream.Close()
		return nil, nil, nil, err
	}
	hreq, err := http.NewRequest(http.MethodPost, baseURL+path, bytes.NewReader(body))
	if err != nil {
		return fail(errdefs.Internalf("build %s request: %w", path, err))
	}
	hreq.Header.Set("Authorization", c.bearer())
	if len(body) > 0 {
		hreq.Header.Set("Content-Type", "application/json")
	}
	hreq.Header.Set("Connection", "Upgrade")
	hreq.Header.Set("Upgrade", upgrade)
	if err := hreq.Write(stream); err != nil {
		return fail(c.transportError(ctx, http.MethodPost, path, err))
	}
	rd := bufio.NewReader(stream)
	resp, err := http.ReadResponse(rd, hreq)
	if err != nil {
		return fail(c.transportError(ctx, http.MethodPost, path, err))
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		defer resp.Body.Close()
		if resp.StatusCode/100 == 2 {
			return fail(errdefs.Internalf("agent answered %s with %s instead of switching protocols: is it a banger-agent?", path, resp.Status))
		}
		return fail(decodeError(resp))
	}
	if !strings.EqualFold(resp.Header.Get("Upgrade"), upgrade) {
		return fail(errdefs.Internalf("agent switched %s to protocol %q, want %q", path, resp.Header.Get("Upgrade"), upgrade))
	}
	return stream, rd, stop, nil
}

// Wait waits for the command and returns its exit code (128+N when signal
// N killed it). The error is an *ExecError (kind not_found for exit code
// 127) when the agent explained a failure, or a transport error with code
// -1 when the stream broke before the command's exit was reported.
func (p *Process) Wait() (int, error) {
	<-p.done
	return p.code, p.err
}

func (p *Process) readLoop(ctx context.Context) {
	defer close(p.done)
	defer p.conn.Close()
	defer p.stop()
	var execErr *ExecError
	outOK, errOK := true, true
	for {
		f, err := proto.ReadFrame(p.rd)
		if err != nil {
			p.code = -1
			switch {
			case ctx.Err() != nil:
				p.err = errdefs.Unavailablef("exec cancelled before the command exited: %w", ctx.Err())
			case errors.Is(err, proto.ErrFrameTooLarge):
				p.err = errdefs.Internalf("agent sent a malformed exec stream: %w", err)
			default:
				p.err = errdefs.Unavailablef("agent exec stream ended before the command's exit was reported: %w", err)
			}
			return
		}
		switch f.Type {
		case proto.FrameStdout:
			if outOK {
				_, err := p.stdout.Write(f.Payload)
				outOK = err == nil
			}
		case proto.FrameStderr:
			if errOK {
				_, err := p.stderr.Write(f.Payload)
				errOK = err == nil
			}
		case proto.FrameError:
			execErr = &ExecError{Message: string(f.Payload)}
		case proto.FrameExit:
			exit, err := proto.DecodeExit(f.Payload)
			if err != nil {
				p.code, p.err = -1, errdefs.Internalf("agent sent a malformed exit frame: %w", err)
				return
			}
			p.code = int(exit.Code)
			if execErr != nil {
				execErr.Code = p.code
				kind := errdefs.FailedPrecondition
				if p.code == 127 {
					kind = errdefs.NotFound
				}
				p.err = errdefs.Wrap(kind, execErr)
			}
			return
		default:
			p.code = -1
			p.err = errdefs.Internalf("agent sent an unexpected %s frame: is the guest's banger-agent the same version as banger?", f.Type)
			return
		}
	}
}

// send writes one frame to the agent.
func (p *Process) send(t proto.FrameType, payload []byte) error {
	p.wmu.Lock()
	defer p.wmu.Unlock()
	select {
	case <-p.done:
		return errClosedProcess
	default:
	}
	if err := proto.WriteFrame(p.conn, t, payload); err != nil {
		return errdefs.Unavailablef("send %s to the agent: %w", t, err)
	}
	return nil
}

// Stdin returns the command's input. It works only when the request set
// Stdin; Close sends end of input.
func (p *Process) Stdin() io.WriteCloser { return stdin{p} }

type stdin struct{ p *Process }

func (s stdin) Write(b []byte) (int, error) {
	n := 0
	for len(b) > 0 {
		chunk := b[:min(len(b), stdinChunk)]
		if err := s.p.send(proto.FrameStdin, chunk); err != nil {
			return n, err
		}
		n += len(chunk)
		b = b[len(chunk):]
	}
	return n, nil
}

func (s stdin) Close() error {
	s.p.wmu.Lock()
	already := s.p.closed
	s.p.closed = true
	s.p.wmu.Unlock()
	if already {
		return nil
	}
	return s.p.send(proto.FrameStdinEOF, nil)
}

// Resize sets the PTY's window size; without a TTY the agent ignores it.
func (p *Process) Resize(rows, cols uint16) error {
	return p.send(proto.FrameResize, proto.EncodeResize(rows, cols))
}

// Signal sends sig to the command's process group.
func (p *Process) Signal(sig syscall.Signal) error {
	if sig < 1 || sig > 64 {
		return errdefs.InvalidArgumentf("signal %d is out of range 1-64", int(sig))
	}
	return p.send(proto.FrameSignal, proto.EncodeSignal(int32(sig)))
}
