package provider

import (
	"context"
	"io"
	"time"

	"banger/internal/agent/proto"
	"banger/internal/api"
	"banger/internal/client"
)

// Client is the Backend over bangerd's unix socket.
type Client struct {
	c *client.Client
	// AgentWait bounds how long Run waits for the guest agent.
	AgentWait time.Duration
}

// NewClient talks to the bangerd listening on socket.
func NewClient(socket string) *Client {
	return &Client{c: &client.Client{Socket: socket}, AgentWait: 5 * time.Minute}
}

// Info returns bangerd's system information.
func (c *Client) Info(ctx context.Context) (api.SystemInfo, error) { return c.c.Info(ctx) }

// ListVMs lists every VM of the daemon.
func (c *Client) ListVMs(ctx context.Context) ([]api.VM, error) { return c.c.ListVMs(ctx) }

// CreateVM creates (and, with req.Start, starts) a VM.
func (c *Client) CreateVM(ctx context.Context, req api.CreateVMRequest) (api.VM, error) {
	return c.c.CreateVM(ctx, req, nil)
}

// DeleteVM deletes a VM, stopping it first.
func (c *Client) DeleteVM(ctx context.Context, ref string) error { return c.c.DeleteVM(ctx, ref, nil) }

// Run waits for the guest agent, then runs argv in the VM.
func (c *Client) Run(ctx context.Context, ref string, argv, env []string, out io.Writer) (int, error) {
	if _, err := c.c.WaitVM(ctx, ref, c.AgentWait); err != nil {
		return -1, err
	}
	x, err := c.c.ExecVM(ctx, ref, proto.ExecRequest{Argv: argv, Env: env})
	if err != nil {
		return -1, err
	}
	return x.Run(ctx, client.ExecIO{Stdout: out, Stderr: out})
}

// Logs writes the VM's serial console to w.
func (c *Client) Logs(ctx context.Context, ref string, tail int, follow bool, w io.Writer) error {
	return c.c.Logs(ctx, ref, tail, follow, w)
}

// Exec runs argv in the VM with the given stdio.
func (c *Client) Exec(ctx context.Context, ref string, argv []string, tty bool, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	x, err := c.c.ExecVM(ctx, ref, proto.ExecRequest{Argv: argv, TTY: tty, Stdin: stdin != nil})
	if err != nil {
		return -1, err
	}
	return x.Run(ctx, client.ExecIO{Stdin: stdin, Stdout: stdout, Stderr: stderr})
}
