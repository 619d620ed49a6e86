package qemu

import (
	"context"
	"strconv"
	"sync"
	"time"

	"banger/internal/vmm"
	"banger/internal/vmm/vmmproc"
)

// Defaults for a zero Config.
const (
	DefaultBinary        = "qemu-system-x86_64"
	DefaultLaunchTimeout = 10 * time.Second
)

// Accelerators Config.Accel accepts.
const (
	AccelAuto = "auto" // KVM when a probe guest runs under it, TCG otherwise
	AccelKVM  = "kvm"
	AccelTCG  = "tcg"
)

// installHint tells a person how to get qemu.
const installHint = "install QEMU (apt-get install qemu-system-x86)"

// Config configures the driver. Zero values get the defaults above.
type Config struct {
	// Binary is the qemu-system-x86_64 executable: a name looked up in
	// PATH or an absolute path.
	Binary string
	// Accel is AccelAuto (the default), AccelKVM or AccelTCG.
	Accel string
	// LaunchTimeout bounds how long Launch waits for QMP to answer.
	LaunchTimeout time.Duration
	// ProbeKernel is a vmlinux Check may boot to find out whether KVM
	// runs guests (Accel "auto"). Empty means Check does not probe and
	// the first Launch probes with its own kernel.
	ProbeKernel string
	// TCGASLR keeps address space layout randomization in guests run
	// under TCG; without it they boot with norandmaps (see tcgNoRandMaps).
	TCGASLR bool
}

// Driver is the qemu vmm.Driver. It is safe for concurrent use.
//
// Launch leaves one goroutine per qemu process that reaps it when it exits
// (see vmmproc.Start); each ends exactly when its process exits.
type Driver struct {
	cfg Config

	// accel caches the accelerator decision: probing KVM is not free and
	// the answer does not change while the daemon runs.
	accelMu   sync.Mutex
	accelDone bool
	accel     accelChoice

	// kvmOpen and kvmBoot probe KVM (see accelerator); fields so tests
	// can replace them.
	kvmOpen func() error
	kvmBoot func(ctx context.Context, bin, kernel string) error
}

var _ vmm.Driver = (*Driver)(nil)

// BootSettings names the settings of the driver that change how its guests
// boot, so a warm snapshot made under other settings is not resumed
// (see vmm.BootSettings).
func (d *Driver) BootSettings() string {
	return "tcg_aslr=" + strconv.FormatBool(d.cfg.TCGASLR)
}

// New returns a driver for cfg.
func New(cfg Config) *Driver {
	if cfg.Binary == "" {
		cfg.Binary = DefaultBinary
	}
	if cfg.Accel == "" {
		cfg.Accel = AccelAuto
	}
	if cfg.LaunchTimeout <= 0 {
		cfg.LaunchTimeout = DefaultLaunchTimeout
	}
	return &Driver{cfg: cfg, kvmOpen: openKVM, kvmBoot: probeBootKVM}
}

// Name returns "qemu".
func (d *Driver) Name() string { return "qemu" }

// Shutdown asks the guest to power off by pressing Ctrl-Alt-Delete on the
// VM's i8042 keyboard, as Firecracker's SendCtrlAltDel does: the guest's
// init reboots, and -no-reboot makes qemu exit. It returns vmm.ErrNotRunning
// when the process is already gone.
func (d *Driver) Shutdown(ctx context.Context, p vmm.Process) error {
	return vmmproc.Ask(ctx, p, "qemu", "qmp socket", "shut down", func(ctx context.Context, sock string) error {
		return qmpDo(ctx, sock, func(c *qmpConn) error {
			return c.execute("send-key", ctrlAltDel, nil)
		})
	})
}

// qmpDo runs fn in a fresh QMP session on sock.
func qmpDo(ctx context.Context, sock string, fn func(*qmpConn) error) error {
	c, err := dialQMP(ctx, sock)
	if err != nil {
		return err
	}
	defer c.Close()
	return fn(c)
}

// program describes the configured qemu binary for lookups and the errors
// a person reads about it.
func (d *Driver) program() vmmproc.Program {
	return vmmproc.Program{
		Name:       "qemu",
		Binary:     d.cfg.Binary,
		ConfigKey:  "vmm.qemu_bin",
		Product:    "qemu-system-x86_64",
		Install:    installHint,
		Upgrade:    "upgrade QEMU",
		MinVersion: MinVersion,
	}
}
