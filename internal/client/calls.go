package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"banger/internal/api"
)

// Info returns the daemon's system info.
func (c *Client) Info(ctx context.Context) (api.SystemInfo, error) {
	var out api.SystemInfo
	return out, c.do(ctx, http.MethodGet, "/system/info", nil, &out)
}

// Doctor runs the daemon's host checks.
func (c *Client) Doctor(ctx context.Context) (api.DoctorReport, error) {
	var out api.DoctorReport
	return out, c.do(ctx, http.MethodGet, "/system/doctor", nil, &out)
}

// ListVMs returns every VM.
func (c *Client) ListVMs(ctx context.Context) ([]api.VM, error) {
	var out []api.VM
	return out, c.do(ctx, http.MethodGet, "/vms", nil, &out)
}

// GetVM returns one VM by name or id.
func (c *Client) GetVM(ctx context.Context, ref string) (api.VM, error) {
	var out api.VM
	return out, c.do(ctx, http.MethodGet, "/vms/"+esc(ref), nil, &out)
}

// CreateVM creates a VM, reporting progress.
func (c *Client) CreateVM(ctx context.Context, req api.CreateVMRequest, progress Progress) (api.VM, error) {
	return c.vmOp(ctx, http.MethodPost, "/vms", req, progress)
}

// StartVM starts a VM.
func (c *Client) StartVM(ctx context.Context, ref string, progress Progress) (api.VM, error) {
	return c.vmOp(ctx, http.MethodPost, "/vms/"+esc(ref)+"/start", nil, progress)
}

// StopVM stops a VM gracefully.
func (c *Client) StopVM(ctx context.Context, ref string, progress Progress) (api.VM, error) {
	return c.vmOp(ctx, http.MethodPost, "/vms/"+esc(ref)+"/stop", nil, progress)
}

// RestartVM stops and starts a VM.
func (c *Client) RestartVM(ctx context.Context, ref string, progress Progress) (api.VM, error) {
	return c.vmOp(ctx, http.MethodPost, "/vms/"+esc(ref)+"/restart", nil, progress)
}

// KillVM stops a VM at once.
func (c *Client) KillVM(ctx context.Context, ref string, progress Progress) (api.VM, error) {
	return c.vmOp(ctx, http.MethodPost, "/vms/"+esc(ref)+"/kill", nil, progress)
}

// PauseVM stops a running VM's vCPUs; its VMM, address and forwards stay.
func (c *Client) PauseVM(ctx context.Context, ref string, progress Progress) (api.VM, error) {
	return c.vmOp(ctx, http.MethodPost, "/vms/"+esc(ref)+"/pause", nil, progress)
}

// ResumeVM lets a paused VM's vCPUs run again.
func (c *Client) ResumeVM(ctx context.Context, ref string, progress Progress) (api.VM, error) {
	return c.vmOp(ctx, http.MethodPost, "/vms/"+esc(ref)+"/resume", nil, progress)
}

// DeleteVM deletes a VM, stopping it first if it runs.
func (c *Client) DeleteVM(ctx context.Context, ref string, progress Progress) error {
	_, err := c.stream(ctx, http.MethodDelete, "/vms/"+esc(ref), nil, progress)
	return err
}

func (c *Client) vmOp(ctx context.Context, method, path string, body any, progress Progress) (api.VM, error) {
	ev, err := c.stream(ctx, method, path, body, progress)
	if err != nil {
		return api.VM{}, err
	}
	if ev.VM == nil {
		return api.VM{}, errNoVM
	}
	return *ev.VM, nil
}

// Logs copies the VM's console log to w; with follow it keeps copying
// until ctx is done or the VM stops.
func (c *Client) Logs(ctx context.Context, ref string, tail int, follow bool, w io.Writer) error {
	q := url.Values{}
	if tail > 0 {
		q.Set("tail", strconv.Itoa(tail))
	}
	if follow {
		q.Set("follow", "1")
	}
	path := "/vms/" + esc(ref) + "/logs"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	req, err := c.newRequest(ctx, http.MethodGet, path, nil)
	if err != nil {
		return err
	}
	resp, err := c.send(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(w, resp.Body); err != nil && ctx.Err() == nil {
		return fmt.Errorf("read logs: %w", err)
	}
	return nil
}

// ListImages returns every image.
func (c *Client) ListImages(ctx context.Context) ([]api.Image, error) {
	var out []api.Image
	return out, c.do(ctx, http.MethodGet, "/images", nil, &out)
}

// GetImage returns one image by name or id.
func (c *Client) GetImage(ctx context.Context, ref string) (api.Image, error) {
	var out api.Image
	return out, c.do(ctx, http.MethodGet, "/images/"+esc(ref), nil, &out)
}

// RegisterImage records host files as an image.
func (c *Client) RegisterImage(ctx context.Context, req api.RegisterImageRequest) (api.Image, error) {
	var out api.Image
	return out, c.do(ctx, http.MethodPost, "/images", req, &out)
}

// RemoveImage forgets an image.
func (c *Client) RemoveImage(ctx context.Context, ref string) error {
	return c.do(ctx, http.MethodDelete, "/images/"+esc(ref), nil, nil)
}

// ListOperations returns the newest operations.
func (c *Client) ListOperations(ctx context.Context, limit int) ([]api.Operation, error) {
	var out []api.Operation
	return out, c.do(ctx, http.MethodGet, "/operations?limit="+strconv.Itoa(limit), nil, &out)
}

// Events calls fn with every event until ctx is done or the daemon stops.
func (c *Client) Events(ctx context.Context, fn func(api.Event)) error {
	req, err := c.newRequest(ctx, http.MethodGet, "/events", nil)
	if err != nil {
		return err
	}
	resp, err := c.send(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(resp.Body)
	for {
		var ev api.Event
		if err := dec.Decode(&ev); err != nil {
			if ctx.Err() != nil || err == io.EOF {
				return nil
			}
			return err
		}
		fn(ev)
	}
}

// Shutdown asks the daemon to exit as SIGTERM makes it: in-flight
// requests finish, VMs keep running. It returns once the daemon has
// accepted, before it has exited.
func (c *Client) Shutdown(ctx context.Context) (api.ShutdownReply, error) {
	var out api.ShutdownReply
	return out, c.do(ctx, http.MethodPost, "/system/shutdown", nil, &out)
}
