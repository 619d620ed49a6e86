package firecracker

import (
	"context"
	"fmt"
	"net"
	"strings"
	"time"

	"banger/internal/errdefs"
	"banger/internal/vmm"
)

// handshakeTimeout bounds Firecracker's CONNECT/OK exchange.
const handshakeTimeout = 5 * time.Second

// DialAgent connects to a guest vsock port through Firecracker's
// host-initiated vsock protocol: connect to the device's unix socket, send
// "CONNECT <port>\n" and read "OK <host port>\n". After that the
// connection is a plain byte stream to the guest.
func (d *Driver) DialAgent(ctx context.Context, spec vmm.Spec, port uint32) (net.Conn, error) {
	if spec.VsockPath == "" {
		return nil, errdefs.FailedPreconditionf("vm %s has no vsock device", spec.ID)
	}
	var dialer net.Dialer
	conn, err := dialer.DialContext(ctx, "unix", spec.VsockPath)
	if err != nil {
		return nil, errdefs.Unavailablef("connect to the vsock socket of vm %s: %w", spec.ID, err)
	}
	deadline := time.Now().Add(handshakeTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = conn.SetDeadline(deadline)
	if _, err := fmt.Fprintf(conn, "CONNECT %d\n", port); err != nil {
		conn.Close()
		return nil, errdefs.Unavailablef("vsock handshake with vm %s: %w", spec.ID, err)
	}
	// Read the reply byte by byte: anything after the newline belongs to
	// the guest's stream and must not be swallowed by a buffer.
	line, err := readLine(conn, 64)
	if err != nil {
		conn.Close()
		return nil, errdefs.Unavailablef("vsock handshake with vm %s (is the guest agent listening on port %d?): %w", spec.ID, port, err)
	}
	if !strings.HasPrefix(line, "OK ") {
		conn.Close()
		return nil, errdefs.Unavailablef("vsock handshake with vm %s: unexpected reply %q", spec.ID, line)
	}
	_ = conn.SetDeadline(time.Time{})
	return conn, nil
}

// readLine reads up to a newline, at most max bytes, without reading past it.
func readLine(conn net.Conn, max int) (string, error) {
	var b strings.Builder
	buf := make([]byte, 1)
	for b.Len() < max {
		if _, err := conn.Read(buf); err != nil {
			return "", err
		}
		if buf[0] == '\n' {
			return b.String(), nil
		}
		b.WriteByte(buf[0])
	}
	return "", fmt.Errorf("reply longer than %d bytes", max)
}
