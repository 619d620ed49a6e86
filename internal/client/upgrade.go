package client

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"strings"

	"banger/internal/errdefs"
)

// upgrade sends hreq, a request asking to switch the connection to
// protocol (exec frames, a raw TCP relay), on a new connection to the
// daemon and returns the connection with the reader that parsed the 101
// answer (it may already hold the first bytes of the stream). what names
// the request in errors. Cancelling ctx before it returns closes the
// connection.
func (c *Client) upgrade(ctx context.Context, hreq *http.Request, protocol, what string) (net.Conn, *bufio.Reader, error) {
	conn, err := c.dial(ctx)
	if err != nil {
		if refusal := untrusted(err); refusal != nil {
			return nil, nil, refusal
		}
		return nil, nil, errdefs.Unavailablef("cannot reach bangerd at %s: %w", c.Socket, err)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	hreq.Header.Set("Connection", "Upgrade")
	hreq.Header.Set("Upgrade", protocol)
	if err := hreq.Write(conn); err != nil {
		conn.Close()
		return nil, nil, errdefs.Unavailablef("send %s request to bangerd: %w", what, err)
	}
	rd := bufio.NewReader(conn)
	resp, err := http.ReadResponse(rd, hreq)
	if err != nil {
		conn.Close()
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		return nil, nil, errdefs.Unavailablef("lost the connection to bangerd before it answered %s: %w", what, err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		defer conn.Close()
		defer resp.Body.Close()
		return nil, nil, decodeError(resp)
	}
	if !strings.EqualFold(resp.Header.Get("Upgrade"), protocol) {
		conn.Close()
		return nil, nil, errdefs.Internalf("bangerd switched %s to %q, want %q", what, resp.Header.Get("Upgrade"), protocol)
	}
	if !stop() {
		// ctx ended as the answer came: the connection is already closed.
		return nil, nil, ctx.Err()
	}
	return conn, rd, nil
}
