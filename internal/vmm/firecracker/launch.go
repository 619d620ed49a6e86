package firecracker

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"banger/internal/vmm"
	"banger/internal/vmm/vmmproc"
)

// APISocketName is the API socket's name inside spec.RuntimeDir.
const APISocketName = "api.sock"

// readyProbeTimeout bounds one readiness probe of the API.
const readyProbeTimeout = 500 * time.Millisecond

// APISocketPath returns the API socket Launch uses for runtimeDir.
func APISocketPath(runtimeDir string) string { return filepath.Join(runtimeDir, APISocketName) }

// Launch starts `firecracker --api-sock <RuntimeDir>/api.sock --id <ID>
// --log-path <VMMLog> ...` in its own session with its stdout and stderr
// (the guest's console) appended to spec.ConsoleLog, and returns once the
// API answers. spec.RuntimeDir must already exist and be private (see
// vmmproc.CheckRuntimeDir); Launch does not create it. On any error the
// process is killed and its socket removed. Its working directory is
// spec.RuntimeDir, against which the drive paths resolve (drivePath).
func (d *Driver) Launch(ctx context.Context, spec vmm.Spec) (vmm.Process, error) {
	if err := validateLaunch(spec); err != nil {
		return vmm.Process{}, err
	}
	if err := ctx.Err(); err != nil {
		return vmm.Process{}, fmt.Errorf("launch vm %s: %w", spec.ID, err)
	}
	bin, err := d.program().Lookup()
	if err != nil {
		return vmm.Process{}, err
	}
	if spec.ACPI {
		if err := d.checkACPI(ctx); err != nil {
			return vmm.Process{}, err
		}
	}
	sock := APISocketPath(spec.RuntimeDir)
	c := NewClient(sock, readyProbeTimeout)
	return vmmproc.Start(ctx, vmmproc.Command{
		Name: "firecracker",
		VM:   spec.ID,
		Path: bin,
		Args: []string{"--api-sock", sock, "--id", spec.ID,
			"--log-path", spec.VMMLog, "--level", "Info", "--show-level"},
		RuntimeDir: spec.RuntimeDir,
		// Drive paths are relative to the runtime directory (see
		// drivePath).
		Dir:    spec.RuntimeDir,
		Stdout: spec.ConsoleLog,
		Stderr: spec.ConsoleLog,
		// The VMM's own log goes to its file from the first line, so the
		// console log holds only what the guest writes.
		Reset:      []string{spec.VMMLog},
		Socket:     sock,
		SocketKind: "api socket",
		Ready: func(ctx context.Context) error {
			_, err := c.InstanceInfo(ctx)
			return err
		},
		Timeout: d.cfg.LaunchTimeout,
	})
}
