package agentclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/yamux"

	"banger/internal/agent/proto"
	"banger/internal/errdefs"
)

// baseURL is the URL every request is made against; the host part is
// never resolved, requests travel over yamux streams.
const baseURL = "http://banger-agent/" + proto.Version

// Client talks to one agent over one yamux client session. Its methods are
// safe for concurrent use and run over separate streams. Timeouts come from
// the contexts passed in.
type Client struct {
	sess *yamux.Session
	hc   *http.Client

	mu    sync.Mutex
	token string // changed by Reidentify
}

// bearer is the Authorization header of a request.
func (c *Client) bearer() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return "Bearer " + c.token
}

// New runs a yamux client session over conn (from DialFirecrackerVsock or
// DialUnix) and authenticates every request with token. The Client owns
// conn from then on.
func New(conn io.ReadWriteCloser, token string) (*Client, error) {
	cfg := yamux.DefaultConfig()
	cfg.LogOutput = io.Discard
	cfg.KeepAliveInterval = 15 * time.Second
	sess, err := yamux.Client(conn, cfg)
	if err != nil {
		conn.Close()
		return nil, errdefs.Internalf("start agent session: %w", err)
	}
	c := &Client{sess: sess, token: token}
	c.hc = &http.Client{Transport: &http.Transport{
		DialContext: func(context.Context, string, string) (net.Conn, error) {
			return c.sess.Open()
		},
		DisableCompression:     true,
		MaxIdleConnsPerHost:    8,
		IdleConnTimeout:        time.Minute,
		MaxResponseHeaderBytes: 64 << 10,
	}}
	return c, nil
}

// Close ends the session and every call still running on it.
func (c *Client) Close() error {
	c.hc.CloseIdleConnections()
	return c.sess.Close()
}

// do sends one request and returns a 2xx response, or the agent's error
// classified with its errdefs kind.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, body io.Reader) (*http.Response, error) {
	u := baseURL + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, errdefs.Internalf("build agent request: %w", err)
	}
	req.Header.Set("Authorization", c.bearer())
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, c.transportError(ctx, method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		return nil, decodeError(resp)
	}
	return resp, nil
}

func (c *Client) transportError(ctx context.Context, method, path string, err error) error {
	if ctx.Err() != nil {
		return errdefs.Unavailablef("agent did not answer %s %s in time: %w", method, path, ctx.Err())
	}
	if c.sess.IsClosed() {
		return errdefs.Unavailablef("agent connection is closed (%s %s): %w: the guest may have shut down, or the peer is not a banger-agent", method, path, err)
	}
	return errdefs.Unavailablef("agent %s %s failed: %w: is the peer a banger-agent speaking protocol %s?", method, path, err, proto.Version)
}

// getJSON decodes the JSON reply of a GET into v.
func (c *Client) getJSON(ctx context.Context, path string, v any) error {
	resp, err := c.do(ctx, http.MethodGet, path, nil, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return decodeBody(resp, path, v)
}

func decodeBody(resp *http.Response, path string, v any) error {
	dec := json.NewDecoder(io.LimitReader(resp.Body, proto.MaxJSONBody))
	if err := dec.Decode(v); err != nil {
		return errdefs.Internalf("decode agent reply to %s: %w", path, err)
	}
	return nil
}

// decodeError turns an error reply into a classified error. The code in
// the JSON body decides the kind; the status is used only without one.
func decodeError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, proto.MaxJSONBody))
	var body proto.ErrorBody
	if err := json.Unmarshal(b, &body); err == nil && body.Error.Message != "" {
		kind := errdefs.Kind(body.Error.Code)
		if !kind.Valid() {
			kind = errdefs.KindOfStatus(resp.StatusCode)
		}
		return &errdefs.Error{Kind: kind, Msg: "agent: " + body.Error.Message}
	}
	return &errdefs.Error{Kind: errdefs.KindOfStatus(resp.StatusCode),
		Msg: fmt.Sprintf("agent answered %s: %.200q", resp.Status, strings.TrimSpace(string(b)))}
}

// errClosedProcess is returned by writes to a finished command.
var errClosedProcess = errors.New("the command has exited")
