package firecracker

import (
	"context"
	"time"

	"banger/internal/vmm"
	"banger/internal/vmm/vmmproc"
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
// Launch leaves one goroutine per firecracker process that reaps it when it
// exits (see vmmproc.Start); each ends exactly when its process exits.
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
	return vmmproc.Ask(ctx, p, "firecracker", "api socket", "shut down", func(ctx context.Context, sock string) error {
		return NewClient(sock, 0).Action(ctx, ActionSendCtrlAltDel)
	})
}

// program describes the configured firecracker binary for lookups and
// the errors a person reads about it.
func (d *Driver) program() vmmproc.Program {
	return vmmproc.Program{
		Name:       "firecracker",
		Binary:     d.cfg.Binary,
		ConfigKey:  "vmm.firecracker_bin",
		Product:    "Firecracker",
		Install:    "install Firecracker (" + releasesURL + ")",
		Upgrade:    "upgrade Firecracker (" + releasesURL + ")",
		MinVersion: MinVersion,
	}
}
