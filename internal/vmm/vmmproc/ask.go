package vmmproc

import (
	"context"
	"fmt"

	"banger/internal/errdefs"
	"banger/internal/process"
	"banger/internal/vmm"
)

// Ask sends one request to the running VMM p through its API socket and
// phrases what goes wrong so that the VM lifecycle can act on it: the error
// wraps vmm.ErrNotRunning when the process is gone, before the request or
// by the time it failed, and is InvalidArgument when p has no socket
// recorded. name and socketKind name the VMM and its socket ("qemu", "qmp
// socket"); what is what the request asks for ("shut down").
func Ask(ctx context.Context, p vmm.Process, name, socketKind, what string, req func(ctx context.Context, socket string) error) error {
	if !process.Alive(p.PID, p.StartTime) {
		return fmt.Errorf("%s pid %d: %w", name, p.PID, vmm.ErrNotRunning)
	}
	if p.APISocket == "" {
		return errdefs.InvalidArgumentf("%s pid %d has no %s recorded: stop it by killing the process", name, p.PID, socketKind)
	}
	err := req(ctx, p.APISocket)
	if err == nil {
		return nil
	}
	if !process.Alive(p.PID, p.StartTime) {
		return fmt.Errorf("%s pid %d: %w", name, p.PID, vmm.ErrNotRunning)
	}
	return fmt.Errorf("ask %s pid %d to %s: %w", name, p.PID, what, err)
}
