package agentclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"banger/internal/errdefs"
)

// handshakeTimeout bounds the vsock handshake when ctx has no deadline.
const handshakeTimeout = 10 * time.Second

// DialUnix connects to a unix socket that leads to the agent (the qemu
// virtio-serial socket, or an agent listening with --listen unix:PATH).
func DialUnix(ctx context.Context, path string) (net.Conn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, errdefs.Unavailablef("connect to agent socket %s: %w: is the VM running?", path, err)
	}
	return conn, nil
}

// DialFirecrackerVsock connects to port in the guest through Firecracker's
// host-side vsock socket udsPath: it sends "CONNECT <port>\n" and expects
// "OK <host port>\n" before the stream is the guest's.
func DialFirecrackerVsock(ctx context.Context, udsPath string, port uint32) (net.Conn, error) {
	conn, err := DialUnix(ctx, udsPath)
	if err != nil {
		return nil, err
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(handshakeTimeout)
	}
	conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	err = vsockHandshake(conn, port)
	stop()
	if err != nil && (ctx.Err() != nil || errors.Is(err, os.ErrDeadlineExceeded)) {
		err = fmt.Errorf("%w: the guest may still be booting", err)
	}
	if err != nil {
		conn.Close()
		return nil, errdefs.Wrap(errdefs.Unavailable, fmt.Errorf("vsock %s port %d: %w", udsPath, port, err))
	}
	conn.SetDeadline(time.Time{})
	return conn, nil
}

func vsockHandshake(conn net.Conn, port uint32) error {
	if _, err := fmt.Fprintf(conn, "CONNECT %d\n", port); err != nil {
		return fmt.Errorf("send CONNECT: %w", err)
	}
	line, err := readLine(conn, 64)
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("firecracker closed the connection: nothing listens on that port in the guest yet (is banger-agent running?)")
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("no CONNECT reply before the deadline: %w", err)
	}
	if err != nil {
		return fmt.Errorf("read CONNECT reply: %w", err)
	}
	var hostPort uint32
	if rest, ok := strings.CutPrefix(line, "OK "); !ok || len(rest) == 0 || strings.Trim(rest, "0123456789") != "" {
		return fmt.Errorf("unexpected CONNECT reply %.64q: want \"OK <port>\"; is %s a Firecracker vsock socket?", line, conn.RemoteAddr())
	} else if _, err := fmt.Sscan(rest, &hostPort); err != nil {
		return fmt.Errorf("unexpected CONNECT reply %.64q: %w", line, err)
	}
	return nil
}

// readLine reads up to a newline one byte at a time, so that nothing after
// the handshake line is consumed.
func readLine(r io.Reader, max int) (string, error) {
	var buf []byte
	b := make([]byte, 1)
	for len(buf) < max {
		if _, err := io.ReadFull(r, b); err != nil {
			if errors.Is(err, io.EOF) && len(buf) > 0 {
				err = io.ErrUnexpectedEOF
			}
			return string(buf), err
		}
		if b[0] == '\n' {
			return string(buf), nil
		}
		buf = append(buf, b[0])
	}
	return "", fmt.Errorf("CONNECT reply longer than %d bytes without a newline: not a Firecracker vsock socket", max)
}
