package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"banger/internal/agent/proto"
	"banger/internal/api"
	"banger/internal/errdefs"
)

// WaitVM waits until the VM's guest agent answers, at most timeout.
func (c *Client) WaitVM(ctx context.Context, ref string, timeout time.Duration) (api.AgentInfo, error) {
	var out api.AgentInfo
	return out, c.do(ctx, http.MethodPost, "/vms/"+esc(ref)+"/wait?timeout="+timeout.String(), nil, &out)
}

// Exec is a command running in a VM, relayed by the daemon.
type Exec struct {
	conn net.Conn
	rd   *bufio.Reader
	wmu  sync.Mutex
}

// ExecVM starts a command in a running VM. The returned Exec carries the
// command's stdio until Run returns.
func (c *Client) ExecVM(ctx context.Context, ref string, req proto.ExecRequest) (*Exec, error) {
	return c.execVM(ctx, ref, req, "")
}

// ExecVMAsImage is ExecVM with the VM's image's defaults
// (?image_defaults=1): an empty Argv is a login shell, and a pulled
// image's Entrypoint, Env, WorkingDir and User apply, as vm run and vm
// exec use them.
func (c *Client) ExecVMAsImage(ctx context.Context, ref string, req proto.ExecRequest) (*Exec, error) {
	return c.execVM(ctx, ref, req, "?image_defaults=1")
}

func (c *Client) execVM(ctx context.Context, ref string, req proto.ExecRequest, query string) (*Exec, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	hreq, err := http.NewRequest(http.MethodPost, "http://bangerd"+api.Version+"/vms/"+esc(ref)+"/exec"+query, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	hreq.Header.Set("Content-Type", "application/json")
	conn, rd, err := c.upgrade(ctx, hreq, proto.ExecUpgrade, "exec")
	if err != nil {
		return nil, err
	}
	return &Exec{conn: conn, rd: rd}, nil
}

// ExecIO is where an exec's stdio goes. Stdin nil sends nothing (the
// request must then not ask for stdin); Stdout and Stderr nil discard.
type ExecIO struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
}

// ExitError reports why a command did not run (its message) with the exit
// code the agent gave, e.g. 127 when the command was not found.
type ExitError struct {
	Code    int
	Message string
}

func (e *ExitError) Error() string { return e.Message }

// Run relays stdio until the command exits and returns its exit code
// (128+N when signal N killed it). A command that could not run returns its
// code with an *ExitError.
func (e *Exec) Run(ctx context.Context, stdio ExecIO) (int, error) {
	stop := context.AfterFunc(ctx, func() { e.conn.Close() })
	defer stop()
	defer e.conn.Close()
	if stdio.Stdin != nil {
		go e.pumpStdin(stdio.Stdin)
	}
	stdout, stderr := orDiscard(stdio.Stdout), orDiscard(stdio.Stderr)
	var msg string
	for {
		f, err := proto.ReadFrame(e.rd)
		if err != nil {
			if ctx.Err() != nil {
				return -1, ctx.Err()
			}
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) {
				return -1, errdefs.Unavailablef("the connection to the guest ended before the command exited")
			}
			return -1, fmt.Errorf("read from guest: %w", err)
		}
		switch f.Type {
		case proto.FrameStdout:
			if _, err := stdout.Write(f.Payload); err != nil {
				return -1, fmt.Errorf("write output: %w", err)
			}
		case proto.FrameStderr:
			_, _ = stderr.Write(f.Payload)
		case proto.FrameError:
			msg = string(f.Payload)
		case proto.FrameExit:
			ex, err := proto.DecodeExit(f.Payload)
			if err != nil {
				return -1, fmt.Errorf("guest sent a bad exit frame: %w", err)
			}
			if msg != "" {
				return int(ex.Code), &ExitError{Code: int(ex.Code), Message: msg}
			}
			return int(ex.Code), nil
		default:
			return -1, fmt.Errorf("guest sent an unexpected %s frame", f.Type)
		}
	}
}

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

// pumpStdin sends r as stdin frames, then stdin EOF.
func (e *Exec) pumpStdin(r io.Reader) {
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if werr := e.send(proto.FrameStdin, buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			_ = e.send(proto.FrameStdinEOF, nil)
			return
		}
	}
}

func (e *Exec) send(t proto.FrameType, payload []byte) error {
	e.wmu.Lock()
	defer e.wmu.Unlock()
	return proto.WriteFrame(e.conn, t, payload)
}

// Resize tells the guest's terminal its new size.
func (e *Exec) Resize(rows, cols uint16) error {
	return e.send(proto.FrameResize, proto.EncodeResize(rows, cols))
}

// Signal sends a signal to the command's process group.
func (e *Exec) Signal(sig int) error {
	return e.send(proto.FrameSignal, proto.EncodeSignal(int32(sig)))
}
