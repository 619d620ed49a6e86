package firecracker

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DefaultRequestTimeout bounds one API call when the Client has no timeout
// of its own. InstanceStart loads the kernel before it answers, so this is
// generous.
const DefaultRequestTimeout = 10 * time.Second

// maxResponse caps how much of a response body is read.
const maxResponse = 1 << 20

// Client talks HTTP/1.1 + JSON to one Firecracker process over its API unix
// socket. It holds no connection between calls, so it is cheap to create
// and needs no closing.
type Client struct {
	socket  string
	timeout time.Duration
	hc      *http.Client
}

// NewClient returns a client of the API socket at socketPath. Each call is
// bounded by timeout, or DefaultRequestTimeout when timeout is zero, and by
// the caller's context.
func NewClient(socketPath string, timeout time.Duration) *Client {
	if timeout <= 0 {
		timeout = DefaultRequestTimeout
	}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socketPath)
		},
		// One connection per call: nothing lingers after the call returns.
		DisableKeepAlives: true,
	}
	return &Client{socket: socketPath, timeout: timeout, hc: &http.Client{Transport: tr}}
}

// SocketPath returns the API socket the client talks to.
func (c *Client) SocketPath() string { return c.socket }

// APIError is a non-2xx answer from Firecracker.
type APIError struct {
	Method       string
	Path         string
	StatusCode   int
	FaultMessage string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("firecracker rejected %s %s: %s (http %d)", e.Method, e.Path, e.FaultMessage, e.StatusCode)
}

// PutLogger configures the VMM's own log. The log file must exist.
func (c *Client) PutLogger(ctx context.Context, l Logger) error {
	return c.do(ctx, http.MethodPut, "/logger", l, nil)
}

// PutMetrics configures the metrics file. The file must exist.
func (c *Client) PutMetrics(ctx context.Context, m Metrics) error {
	return c.do(ctx, http.MethodPut, "/metrics", m, nil)
}

// PutMachineConfig sets vCPUs, memory and SMT. Pre-boot only.
func (c *Client) PutMachineConfig(ctx context.Context, m MachineConfig) error {
	return c.do(ctx, http.MethodPut, "/machine-config", m, nil)
}

// PutBootSource sets the kernel, its command line and initrd. Pre-boot only.
func (c *Client) PutBootSource(ctx context.Context, b BootSource) error {
	return c.do(ctx, http.MethodPut, "/boot-source", b, nil)
}

// PutDrive creates or updates the block device d.DriveID. Pre-boot only.
func (c *Client) PutDrive(ctx context.Context, d Drive) error {
	return c.do(ctx, http.MethodPut, "/drives/"+url.PathEscape(d.DriveID), d, nil)
}

// PutNetworkInterface creates the network interface n.IfaceID. Pre-boot only.
func (c *Client) PutNetworkInterface(ctx context.Context, n NetworkInterface) error {
	return c.do(ctx, http.MethodPut, "/network-interfaces/"+url.PathEscape(n.IfaceID), n, nil)
}

// PutVsock creates the vsock device. Pre-boot only.
func (c *Client) PutVsock(ctx context.Context, v Vsock) error {
	return c.do(ctx, http.MethodPut, "/vsock", v, nil)
}

// Action runs a synchronous action (InstanceStart, SendCtrlAltDel, ...).
func (c *Client) Action(ctx context.Context, a ActionType) error {
	return c.do(ctx, http.MethodPut, "/actions", InstanceActionInfo{ActionType: a}, nil)
}

// PatchVM pauses or resumes the booted microVM's vCPUs.
func (c *Client) PatchVM(ctx context.Context, state VMState) error {
	return c.do(ctx, http.MethodPatch, "/vm", VM{State: state}, nil)
}

// CreateSnapshot saves the paused microVM (PUT /snapshot/create).
func (c *Client) CreateSnapshot(ctx context.Context, s SnapshotCreateParams) error {
	return c.do(ctx, http.MethodPut, "/snapshot/create", s, nil)
}

// LoadSnapshot restores a microVM in place of booting (PUT /snapshot/load).
func (c *Client) LoadSnapshot(ctx context.Context, s SnapshotLoadParams) error {
	return c.do(ctx, http.MethodPut, "/snapshot/load", s, nil)
}

// PatchDrive swaps an attached drive's backing file (PATCH /drives/{id}).
func (c *Client) PatchDrive(ctx context.Context, d PartialDrive) error {
	return c.do(ctx, http.MethodPatch, "/drives/"+url.PathEscape(d.DriveID), d, nil)
}

// InstanceInfo returns GET /, which answers as soon as the API is up.
func (c *Client) InstanceInfo(ctx context.Context) (InstanceInfo, error) {
	var info InstanceInfo
	err := c.do(ctx, http.MethodGet, "/", nil, &info)
	return info, err
}

// Version returns the firecracker_version of GET /version.
func (c *Client) Version(ctx context.Context) (string, error) {
	var v FirecrackerVersion
	if err := c.do(ctx, http.MethodGet, "/version", nil, &v); err != nil {
		return "", err
	}
	return v.FirecrackerVersion, nil
}

// do sends one request with an optional JSON body and decodes an optional
// JSON answer into out.
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()

	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encode firecracker %s %s: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://localhost"+path, body)
	if err != nil {
		return fmt.Errorf("build firecracker %s %s: %w", method, path, err)
	}
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("firecracker %s %s on %s: %w", method, path, c.socket, unwrapURLError(err))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return fmt.Errorf("read firecracker answer to %s %s: %w", method, path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &APIError{Method: method, Path: path, StatusCode: resp.StatusCode, FaultMessage: faultMessage(resp.StatusCode, data)}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("decode firecracker answer to %s %s: %w", method, path, err)
	}
	return nil
}

// faultMessage extracts fault_message from an error body, falling back to
// the raw body and then to the status text.
func faultMessage(status int, body []byte) string {
	var f apiFault
	if json.Unmarshal(body, &f) == nil && f.FaultMessage != "" {
		return f.FaultMessage
	}
	if s := strings.TrimSpace(string(body)); s != "" {
		const max = 512
		if len(s) > max {
			s = s[:max] + "..."
		}
		return s
	}
	return strings.ToLower(http.StatusText(status))
}

// unwrapURLError drops net/http's `Put "http://localhost/...":` prefix,
// which repeats what the caller's message already says.
func unwrapURLError(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}
