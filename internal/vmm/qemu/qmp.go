package qemu

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"time"

	"banger/internal/vmm/vmmproc"
)

// defaultQMPTimeout bounds one QMP session when ctx has no earlier deadline.
const defaultQMPTimeout = 5 * time.Second

// maxQMPLine bounds one QMP message; qemu's answers to the few commands
// banger sends are a few hundred bytes.
const maxQMPLine = 1 << 20

// QMPError is an error answer from QMP ({"error": {"class", "desc"}}).
type QMPError struct {
	Command string
	Class   string
	Desc    string
}

func (e *QMPError) Error() string {
	return fmt.Sprintf("qmp %s: %s (%s)", e.Command, e.Desc, e.Class)
}

// qmpConn is one QMP session: the greeting has been read and capability
// negotiation is done. qemu serves one QMP client at a time, so a session
// is opened per operation and closed right after.
type qmpConn struct {
	conn net.Conn
	r    *bufio.Reader
	stop func() bool // stops the context watch
}

// qmpMessage is any message qemu sends: a greeting, a command's answer or
// an asynchronous event.
type qmpMessage struct {
	QMP    json.RawMessage `json:"QMP"`
	Return json.RawMessage `json:"return"`
	Error  *struct {
		Class string `json:"class"`
		Desc  string `json:"desc"`
	} `json:"error"`
	Event string `json:"event"`
}

// dialQMP connects to the QMP socket at path, reads the greeting and
// leaves capability negotiation mode. The session's deadline is ctx's, or
// defaultQMPTimeout from now.
func dialQMP(ctx context.Context, path string) (*qmpConn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(defaultQMPTimeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	_ = conn.SetDeadline(deadline)
	c := &qmpConn{conn: conn, r: bufio.NewReaderSize(conn, 4096)}
	// An expired deadline unblocks a pending read or write when ctx ends
	// before the session does.
	c.stop = context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	greeting, err := c.read()
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("read qmp greeting: %w", err)
	}
	if greeting.QMP == nil {
		c.Close()
		return nil, errors.New("read qmp greeting: the socket did not greet like qemu's QMP")
	}
	if err := c.execute("qmp_capabilities", nil, nil); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// Close ends the session.
func (c *qmpConn) Close() error {
	c.stop()
	return c.conn.Close()
}

// execute runs command with args (nil for none) and decodes its return
// value into out (nil to ignore it). Events that arrive first are skipped.
func (c *qmpConn) execute(command string, args, out any) error {
	req := struct {
		Execute   string `json:"execute"`
		Arguments any    `json:"arguments,omitempty"`
	}{command, args}
	b, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("qmp %s: %w", command, err)
	}
	if _, err := c.conn.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("qmp %s: %w", command, err)
	}
	for {
		m, err := c.read()
		if err != nil {
			return fmt.Errorf("qmp %s: %w", command, err)
		}
		switch {
		case m.Event != "":
			continue
		case m.Error != nil:
			return &QMPError{Command: command, Class: m.Error.Class, Desc: m.Error.Desc}
		case m.Return != nil:
			if out == nil {
				return nil
			}
			if err := json.Unmarshal(m.Return, out); err != nil {
				return fmt.Errorf("qmp %s: decode answer: %w", command, err)
			}
			return nil
		default:
			return fmt.Errorf("qmp %s: unexpected message %s", command, vmmproc.Excerpt(fmt.Sprintf("%+v", m), 200))
		}
	}
}

// read reads one newline-terminated JSON message.
func (c *qmpConn) read() (qmpMessage, error) {
	var line []byte
	for {
		chunk, isPrefix, err := c.r.ReadLine()
		if err != nil {
			return qmpMessage{}, err
		}
		line = append(line, chunk...)
		if len(line) > maxQMPLine {
			return qmpMessage{}, fmt.Errorf("qmp message longer than %d bytes", maxQMPLine)
		}
		if !isPrefix {
			break
		}
	}
	var m qmpMessage
	if err := json.Unmarshal(line, &m); err != nil {
		return qmpMessage{}, fmt.Errorf("malformed qmp message %q: %w", vmmproc.Excerpt(string(line), 200), err)
	}
	return m, nil
}

// qmpStatus is query-status's answer.
type qmpStatus struct {
	Status  string `json:"status"`
	Running bool   `json:"running"`
}

// keyValue is one key of send-key.
type keyValue struct {
	Type string `json:"type"`
	Data string `json:"data"`
}

// ctrlAltDel is the send-key argument for Ctrl-Alt-Delete.
var ctrlAltDel = struct {
	Keys []keyValue `json:"keys"`
}{Keys: []keyValue{{"qcode", "ctrl"}, {"qcode", "alt"}, {"qcode", "delete"}}}
