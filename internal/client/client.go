// Package client is the Go client of the bangerd API over its unix socket.
// Its zero value is usable once Socket is set. It talks only to a daemon
// that runs as this user or as root (checked with SO_PEERCRED before a
// byte is sent). It speaks only the wire
// types of package api and must not import daemon-side packages.
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
	"net/url"
	"sync"
	"time"

	"banger/internal/api"
	"banger/internal/errdefs"
)

// Client talks to bangerd.
type Client struct {
	// Socket is the path of the daemon's unix socket.
	Socket string

	once sync.Once
	http *http.Client
}

func (c *Client) httpClient() *http.Client {
	c.once.Do(func() {
		c.http = &http.Client{Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return c.dial(ctx)
			},
			MaxIdleConnsPerHost: 16,
			IdleConnTimeout:     30 * time.Second,
		}}
	})
	return c.http
}

// Ping reports whether the daemon answers.
func (c *Client) Ping(ctx context.Context) error {
	_, err := c.Info(ctx)
	return err
}

func (c *Client) newRequest(ctx context.Context, method, path string, body any) (*http.Request, error) {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://bangerd"+api.Version+path, r)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return req, nil
}

func (c *Client) send(req *http.Request) (*http.Response, error) {
	resp, err := c.httpClient().Do(req)
	if err != nil {
		if req.Context().Err() != nil {
			return nil, req.Context().Err()
		}
		if refusal := untrusted(err); refusal != nil {
			return nil, refusal
		}
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" {
			return nil, errdefs.Unavailablef("cannot reach bangerd at %s: %w", c.Socket, op.Err)
		}
		return nil, errdefs.Unavailablef("lost the connection to bangerd before it answered (did it crash? see its log): %w", err)
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		return nil, decodeError(resp)
	}
	return resp, nil
}

// do sends one request and decodes the JSON reply into out (if non-nil).
func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	req, err := c.newRequest(ctx, method, path, body)
	if err != nil {
		return err
	}
	resp, err := c.send(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("decode reply of %s %s: %w", method, path, err)
	}
	return nil
}

// Progress receives the progress events of a long operation.
type Progress func(api.Event)

// streamResult runs the long operation at path (stream) and decodes its
// result event into a T; what names the operation in the errors ("kernel
// build", "prune").
func streamResult[T any](ctx context.Context, c *Client, method, path string, body any, progress Progress, what string) (T, error) {
	var out T
	ev, err := c.stream(ctx, method, path, body, progress)
	if err != nil {
		return out, err
	}
	if len(ev.Result) == 0 {
		return out, errdefs.Internalf("bangerd finished the %s without a result (op %s)", what, ev.OpID)
	}
	if err := json.Unmarshal(ev.Result, &out); err != nil {
		return out, fmt.Errorf("bad %s result from bangerd: %w", what, err)
	}
	return out, nil
}

// stream sends a long operation asking for NDJSON progress, passes every
// step event to progress and returns the final result event.
func (c *Client) stream(ctx context.Context, method, path string, body any, progress Progress) (api.Event, error) {
	req, err := c.newRequest(ctx, method, path, body)
	if err != nil {
		return api.Event{}, err
	}
	req.Header.Set("Accept", api.NDJSON)
	resp, err := c.send(req)
	if err != nil {
		return api.Event{}, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		var ev api.Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return api.Event{}, fmt.Errorf("bad progress line from bangerd: %w", err)
		}
		switch ev.Type {
		case api.EventResult:
			return ev, nil
		case api.EventError:
			if ev.Error == nil {
				return api.Event{}, errdefs.Internalf("bangerd reported an error without details (op %s)", ev.OpID)
			}
			e := *ev.Error
			if e.OpID == "" {
				e.OpID = ev.OpID
			}
			return api.Event{}, fromAPIError(e)
		default:
			if progress != nil {
				progress(ev)
			}
		}
	}
	if err := sc.Err(); err != nil {
		if ctx.Err() != nil {
			return api.Event{}, ctx.Err()
		}
		return api.Event{}, errdefs.Unavailablef("lost the connection to bangerd: %w", err)
	}
	if ctx.Err() != nil {
		return api.Event{}, ctx.Err()
	}
	return api.Event{}, errdefs.Unavailablef("bangerd closed the stream before the operation finished (see its log)")
}

// OpError is an API error with the daemon's operation id, so the CLI can
// point at the daemon log.
type OpError struct {
	OpID string
	Err  error
}

func (e *OpError) Error() string { return e.Err.Error() }
func (e *OpError) Unwrap() error { return e.Err }

// fromAPIError turns the wire error into a classified Go error.
func fromAPIError(e api.Error) error {
	return &OpError{OpID: e.OpID, Err: &errdefs.Error{Kind: errdefs.KindOfCode(e.Code), Msg: e.Message}}
}

func decodeError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var body api.ErrorBody
	if err := json.Unmarshal(b, &body); err == nil && body.Error.Code != "" {
		if body.Error.OpID == "" {
			body.Error.OpID = resp.Header.Get(api.OpIDHeader)
		}
		return fromAPIError(body.Error)
	}
	return &OpError{OpID: resp.Header.Get(api.OpIDHeader), Err: &errdefs.Error{
		Kind: errdefs.KindOfStatus(resp.StatusCode),
		Msg:  fmt.Sprintf("bangerd answered %s: %s", resp.Status, bytes.TrimSpace(b)),
	}}
}

func esc(s string) string { return url.PathEscape(s) }

var errNoVM = errdefs.Internalf("bangerd returned no VM")
