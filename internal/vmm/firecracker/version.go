package firecracker

import (
	"context"

	"banger/internal/vmm"
)

// MinVersion is the oldest Firecracker banger drives.
const MinVersion = "1.5.0"

// Check resolves the firecracker binary, runs `<binary> --version` and
// refuses versions older than MinVersion. The returned Info is filled in
// as far as it got, also on error, so doctor can show it.
func (d *Driver) Check(ctx context.Context) (vmm.Info, error) {
	return d.program().Check(ctx)
}
