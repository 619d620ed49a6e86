package client

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"banger/internal/api"
	"banger/internal/errdefs"
)

// SSHInfo returns banger's SSH key and known_hosts paths and the VMs'
// domain; the daemon makes the key on first use.
func (c *Client) SSHInfo(ctx context.Context) (api.SSHInfo, error) {
	var out api.SSHInfo
	return out, c.do(ctx, http.MethodGet, "/ssh", nil, &out)
}

// DialVM opens a byte stream to TCP port on the VM's loopback, relayed by
// the daemon through the guest agent. The daemon waits up to wait for the
// VM and the port. The returned connection is the stream; cancelling ctx
// before it returns aborts the dial.
func (c *Client) DialVM(ctx context.Context, ref string, port int, wait time.Duration) (io.ReadWriteCloser, error) {
	conn, err := c.dial(ctx)
	if err != nil {
		if refusal := untrusted(err); refusal != nil {
			return nil, refusal
		}
		return nil, errdefs.Unavailablef("cannot reach bangerd at %s: %w", c.Socket, err)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	q := url.Values{"port": {strconv.Itoa(port)}, "wait": {wait.String()}}
	hreq, err := http.NewRequest(http.MethodPost, "http://bangerd"+api.Version+"/vms/"+esc(ref)+"/tcp?"+q.Encode(), nil)
	if err != nil {
		conn.Close()
		return nil, err
	}
	hreq.Header.Set("Connection", "Upgrade")
	hreq.Header.Set("Upgrade", api.TCPUpgrade)
	if err := hreq.Write(conn); err != nil {
		conn.Close()
		return nil, errdefs.Unavailablef("send tcp request to bangerd: %w", err)
	}
	rd := bufio.NewReader(conn)
	resp, err := http.ReadResponse(rd, hreq)
	if err != nil {
		conn.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, errdefs.Unavailablef("lost the connection to bangerd before it answered tcp: %w", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		defer conn.Close()
		defer resp.Body.Close()
		return nil, decodeError(resp)
	}
	if !strings.EqualFold(resp.Header.Get("Upgrade"), api.TCPUpgrade) {
		conn.Close()
		return nil, errdefs.Internalf("bangerd switched tcp to %q, want %q", resp.Header.Get("Upgrade"), api.TCPUpgrade)
	}
	return &relayConn{Conn: conn, rd: rd}, nil
}

// relayConn reads through the reader that parsed the 101 answer, which may
// already hold the guest's first bytes.
type relayConn struct {
	net.Conn
	rd *bufio.Reader
}

func (r *relayConn) Read(b []byte) (int, error) { return r.rd.Read(b) }
