package agentclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"banger/internal/agent/proto"
	"banger/internal/errdefs"
)

// Ready reports the agent's version, hostname, boot time and init system.
func (c *Client) Ready(ctx context.Context) (proto.Ready, error) {
	var r proto.Ready
	return r, c.getJSON(ctx, "/ready", &r)
}

// Ports lists the guest's listening TCP sockets.
func (c *Client) Ports(ctx context.Context) ([]proto.Port, error) {
	var p []proto.Port
	return p, c.getJSON(ctx, "/ports", &p)
}

// HostKeys lists the guest's SSH host keys with their fingerprints.
func (c *Client) HostKeys(ctx context.Context) ([]proto.HostKey, error) {
	var k []proto.HostKey
	return k, c.getJSON(ctx, "/hostkeys", &k)
}

// Metrics reports load, memory, root disk usage and uptime.
func (c *Client) Metrics(ctx context.Context) (proto.Metrics, error) {
	var m proto.Metrics
	return m, c.getJSON(ctx, "/metrics", &m)
}

// Reidentify gives a guest restored from a snapshot its new identity
// (POST /v1/identity). Once it returns, the agent answers only to
// id.Token, which this client then sends: its session stays usable, so
// the caller need not open another one while the guest reopens its end
// of the agent channel.
func (c *Client) Reidentify(ctx context.Context, id proto.Identity) error {
	b, err := json.Marshal(id)
	if err != nil {
		return errdefs.Internalf("encode identity: %w", err)
	}
	resp, err := c.do(ctx, http.MethodPost, "/identity", nil, bytes.NewReader(b))
	if err != nil {
		return err
	}
	resp.Body.Close()
	c.mu.Lock()
	c.token = id.Token
	c.mu.Unlock()
	return nil
}

// Shutdown asks the guest to power off. It returns once the agent has
// accepted the request; the guest goes down shortly after.
func (c *Client) Shutdown(ctx context.Context) error {
	resp, err := c.do(ctx, http.MethodPost, "/shutdown", nil, nil)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// Upload extracts the tar stream under dir (an absolute guest path,
// created 0755 when missing).
func (c *Client) Upload(ctx context.Context, dir string, tarStream io.Reader) error {
	resp, err := c.do(ctx, http.MethodPut, "/files", url.Values{"path": {dir}}, io.NopCloser(tarStream))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var res proto.UploadResult
	return decodeBody(resp, "/files", &res)
}

// Download returns a tar stream of path (a file or a directory tree) whose
// entries start with path's base name. Reading it returns an error, not
// io.EOF, when the agent failed part-way. ctx must stay alive while the
// stream is read.
func (c *Client) Download(ctx context.Context, path string) (io.ReadCloser, error) {
	resp, err := c.do(ctx, http.MethodGet, "/files", url.Values{"path": {path}}, nil)
	if err != nil {
		return nil, err
	}
	return &download{resp: resp, path: path}, nil
}

// download reports the agent's error trailer at the end of the body.
type download struct {
	resp *http.Response
	path string
}

func (d *download) Read(p []byte) (int, error) {
	n, err := d.resp.Body.Read(p)
	if errors.Is(err, io.EOF) {
		if msg := d.resp.Trailer.Get(proto.ErrorTrailer); msg != "" {
			return n, errdefs.Internalf("agent: download %s failed part-way: %s", d.path, strings.TrimSpace(msg))
		}
	} else if err != nil {
		err = errdefs.Unavailablef("download %s from agent: %w", d.path, err)
	}
	return n, err
}

func (d *download) Close() error { return d.resp.Body.Close() }

// Dial connects to TCP port on the guest's loopback and returns the raw
// byte stream to it. An unavailable error means nothing listens there.
// Cancelling ctx closes the stream.
func (c *Client) Dial(ctx context.Context, port int) (io.ReadWriteCloser, error) {
	path := "/tcp?port=" + strconv.Itoa(port)
	stream, rd, stop, err := c.openUpgrade(ctx, path, proto.TCPUpgrade, nil)
	if err != nil {
		return nil, err
	}
	return &rawExec{Conn: stream, rd: rd, stop: stop}, nil
}

// Stat reports what path is in the guest, symlinks followed; a missing
// path is a not_found error.
func (c *Client) Stat(ctx context.Context, path string) (proto.Stat, error) {
	resp, err := c.do(ctx, http.MethodGet, "/stat", url.Values{"path": {path}}, nil)
	if err != nil {
		return proto.Stat{}, err
	}
	defer resp.Body.Close()
	var st proto.Stat
	return st, decodeBody(resp, "/stat", &st)
}
