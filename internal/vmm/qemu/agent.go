package qemu

import (
	"context"
	"net"

	"banger/internal/errdefs"
	"banger/internal/vmm"
)

// DialAgent connects to the guest agent's virtio-serial port through the
// unix socket qemu listens on (spec.VsockPath). port is ignored: the VM
// has one agent channel. qemu serves one connection on that socket at a
// time; a second waits until the first closes, so callers keep one
// multiplexed session per VM.
func (d *Driver) DialAgent(ctx context.Context, spec vmm.Spec, port uint32) (net.Conn, error) {
	if spec.VsockPath == "" {
		return nil, errdefs.FailedPreconditionf("vm %s has no agent channel", spec.ID)
	}
	var dialer net.Dialer
	conn, err := dialer.DialContext(ctx, "unix", spec.VsockPath)
	if err != nil {
		return nil, errdefs.Unavailablef("connect to the agent channel of vm %s: %w", spec.ID, err)
	}
	return conn, nil
}
