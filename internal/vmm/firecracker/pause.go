package firecracker

import (
	"context"
	"fmt"

	"banger/internal/vmm"
	"banger/internal/vmm/vmmproc"
)

// instancePaused is GET /'s state of a microVM whose vCPUs are paused.
const instancePaused = "Paused"

// Pause pauses the microVM's vCPUs with PATCH /vm {"state": "Paused"}.
func (d *Driver) Pause(ctx context.Context, p vmm.Process) error {
	return vmmproc.Ask(ctx, p, "firecracker", "api socket", "pause", func(ctx context.Context, sock string) error {
		return NewClient(sock, 0).PatchVM(ctx, VMStatePaused)
	})
}

// Resume resumes the microVM's vCPUs with PATCH /vm {"state": "Resumed"}.
func (d *Driver) Resume(ctx context.Context, p vmm.Process) error {
	return vmmproc.Ask(ctx, p, "firecracker", "api socket", "resume", func(ctx context.Context, sock string) error {
		return NewClient(sock, 0).PatchVM(ctx, VMStateResumed)
	})
}

// Paused reports whether GET / says the microVM is "Paused".
func (d *Driver) Paused(ctx context.Context, p vmm.Process) (bool, error) {
	var info InstanceInfo
	err := vmmproc.Ask(ctx, p, "firecracker", "api socket", "report its state", func(ctx context.Context, sock string) error {
		var err error
		info, err = NewClient(sock, 0).InstanceInfo(ctx)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("query microVM state: %w", err)
	}
	return info.State == instancePaused, nil
}
