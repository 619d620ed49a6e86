package client

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"banger/internal/api"
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
	q := url.Values{"port": {strconv.Itoa(port)}, "wait": {wait.String()}}
	hreq, err := http.NewRequest(http.MethodPost, "http://bangerd"+api.Version+"/vms/"+esc(ref)+"/tcp?"+q.Encode(), nil)
	if err != nil {
		return nil, err
	}
	conn, rd, err := c.upgrade(ctx, hreq, api.TCPUpgrade, "tcp")
	if err != nil {
		return nil, err
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
