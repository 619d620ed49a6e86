package firecracker

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"banger/internal/errdefs"
	"banger/internal/process"
	"banger/internal/vmm"
)

// Defaults for a zero Config.
const (
	DefaultBinary        = "firecracker"
	DefaultLaunchTimeout = 5 * time.Second
)

// releasesURL is where a person gets Firecracker.
const releasesURL = "https://github.com/firecracker-microvm/firecracker/releases"

// Config configures the driver. Zero values get the defaults above.
type Config struct {
	// Binary is the firecracker executable: a name looked up in PATH or
	// an absolute path.
	Binary string
	// LaunchTimeout bounds how long Launch waits for the API socket.
	LaunchTimeout time.Duration
}

// Driver is the Firecracker vmm.Driver. It is safe for concurrent use.
//
// Launch starts one goroutine per firecracker process that reaps it when it
// exits, so that no zombie is left while the daemon runs. The driver owns
// those goroutines; each ends exactly when its process exits, which may be
// long after the daemon itself, by design, stops caring about it.
type Driver struct {
	cfg Config
}

var _ vmm.Driver = (*Driver)(nil)

// New returns a driver for cfg.
func New(cfg Config) *Driver {
	if cfg.Binary == "" {
		cfg.Binary = DefaultBinary
	}
	if cfg.LaunchTimeout <= 0 {
		cfg.LaunchTimeout = DefaultLaunchTimeout
	}
	return &Driver{cfg: cfg}
}

// Name returns "firecracker".
func (d *Driver) Name() string { return "firecracker" }

// Shutdown asks the guest to power off with SendCtrlAltDel. It returns
// vmm.ErrNotRunning when the process is already gone.
func (d *Driver) Shutdown(ctx context.Context, p vmm.Process) error {
	if !process.Alive(p.PID, p.StartTime) {
		return fmt.Errorf("firecracker pid %d: %w", p.PID, vmm.ErrNotRunning)
	}
	if p.APISocket == "" {
		return errdefs.InvalidArgumentf("firecracker pid %d has no api socket recorded: stop it by killing the process", p.PID)
	}
	err := NewClient(p.APISocket, 0).Action(ctx, ActionSendCtrlAltDel)
	if err == nil {
		return nil
	}
	if !process.Alive(p.PID, p.StartTime) {
		return fmt.Errorf("firecracker pid %d: %w", p.PID, vmm.ErrNotRunning)
	}
	return fmt.Errorf("ask firecracker pid %d to shut down: %w", p.PID, err)
}

// binary resolves the configured firecracker executable to an absolute
// path, with an error that says how to fix a missing one.
func (d *Driver) binary() (string, error) {
	bin := d.cfg.Binary
	path, err := exec.LookPath(bin)
	if err != nil {
		var msg string
		switch {
		case errors.Is(err, fs.ErrPermission):
			msg = fmt.Sprintf("firecracker binary %q is not executable: make it executable or set vmm.firecracker_bin in the config", bin)
		case strings.ContainsRune(bin, '/'):
			msg = fmt.Sprintf("firecracker binary %q not found: install Firecracker (%s) or set vmm.firecracker_bin in the config", bin, releasesURL)
		default:
			msg = fmt.Sprintf("firecracker binary %q not found in PATH: install Firecracker (%s) or set vmm.firecracker_bin in the config", bin, releasesURL)
		}
		return "", &errdefs.Error{Kind: errdefs.FailedPrecondition, Msg: msg, Err: err}
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("resolve firecracker binary %q: %w", path, err)
	}
	return abs, nil
}
