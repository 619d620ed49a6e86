package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"banger/internal/api"
)

// Ports lists the TCP ports a running VM's guest listens on.
func (c *Client) Ports(ctx context.Context, ref string) ([]api.Port, error) {
	var out []api.Port
	return out, c.do(ctx, http.MethodGet, "/vms/"+esc(ref)+"/ports", nil, &out)
}

// Forwards lists the host ports forwarded to a VM.
func (c *Client) Forwards(ctx context.Context, ref string) ([]api.Forward, error) {
	var out []api.Forward
	return out, c.do(ctx, http.MethodGet, "/vms/"+esc(ref)+"/forwards", nil, &out)
}

// Forward relays a host loopback port to a guest port while the VM runs.
func (c *Client) Forward(ctx context.Context, ref string, req api.ForwardRequest) (api.Forward, error) {
	var out api.Forward
	return out, c.do(ctx, http.MethodPost, "/vms/"+esc(ref)+"/forwards", req, &out)
}

// StopForward ends the forward of a host port (hostAddr "" is 127.0.0.1).
func (c *Client) StopForward(ctx context.Context, ref, hostAddr string, hostPort int) error {
	path := "/vms/" + esc(ref) + "/forwards/" + strconv.Itoa(hostPort)
	if hostAddr != "" {
		path += "?host_addr=" + url.QueryEscape(hostAddr)
	}
	return c.do(ctx, http.MethodDelete, path, nil, nil)
}
