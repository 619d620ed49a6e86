// Package config owns banger's config file: its keys, the defaults derived
// from the host, and the limits every setting must respect. The pipeline is
// load → defaults → overlay the file → validate, and validation reports
// every problem at once, each naming its TOML key. The same limits check
// per-VM overrides that arrive through the API. It reads the config file and
// host facts; it must not create files or act on the settings.
package config

import (
	"time"

	"banger/internal/bytesize"
)

// Config is the daemon's configuration. The zero value is not valid: start
// from Defaults or Load.
type Config struct {
	LogLevel string     `toml:"log_level"` // debug|info|warn|error
	VMM      VMM        `toml:"vmm"`
	VM       VMDefaults `toml:"vm"`
	Network  Network    `toml:"network"`
	DNS      DNS        `toml:"dns"`
}

// VMM selects and tunes the virtual machine monitor.
type VMM struct {
	Driver         string   `toml:"driver"`          // one of Drivers
	FirecrackerBin string   `toml:"firecracker_bin"` // a command looked up in PATH, or an absolute path
	QemuBin        string   `toml:"qemu_bin"`        // a command looked up in PATH, or an absolute path
	StopTimeout    Duration `toml:"stop_timeout"`    // graceful stop wait before SIGKILL
	// TCGASLR keeps address space layout randomization in guests that
	// qemu runs under software emulation (TCG). Off by default: such a
	// guest boots with norandmaps, since TCG translates a program's code
	// again for every address it is mapped at (see docs/qemu.md).
	TCGASLR bool `toml:"tcg_aslr"`
}

// VMDefaults are the settings a new VM gets unless it asks for others.
type VMDefaults struct {
	VCPUs    int           `toml:"vcpus"`
	Memory   bytesize.Size `toml:"memory"`
	DiskSize bytesize.Size `toml:"disk_size"` // the work disk mounted at /root
	Image    string        `toml:"image"`     // image name for new VMs
	// DiskStrategy is how root disks are cloned from images: one of
	// DiskStrategies.
	DiskStrategy string `toml:"disk_strategy"`
	// WarmStart lets vm run resume a matching warm snapshot (a freshly
	// booted VM of the same image and shape) instead of booting, and
	// make one in the background when none matches.
	WarmStart bool `toml:"warm_start"`
}

// LogLevels are the valid values of log_level.
var LogLevels = []string{"debug", "info", "warn", "error"}

// Drivers are the valid values of vmm.driver.
var Drivers = []string{"firecracker", "qemu", "auto"}

// DiskStrategies are the valid values of vm.disk_strategy.
var DiskStrategies = []string{"auto", "reflink", "loop-xfs", "dm", "qcow2", "sparse"}

// Limits and fixed defaults.
const (
	DefaultLogLevel       = "info"
	DefaultDriver         = "auto"
	DefaultFirecrackerBin = "firecracker"
	DefaultQemuBin        = "qemu-system-x86_64"
	DefaultStopTimeout    = 10 * time.Second
	MaxStopTimeout        = 10 * time.Minute
	DefaultImage          = "default"
	DefaultDiskStrategy   = "auto"

	DefaultVCPUs = 2
	MaxVCPUs     = 32 // Firecracker's limit

	DefaultMemory = bytesize.GiB
	MinMemory     = 128 * bytesize.MiB
	MaxMemory     = bytesize.TiB // whatever the host has

	DefaultDiskSize    = 8 * bytesize.GiB
	MinDefaultDiskSize = bytesize.GiB
	MinDiskSize        = 256 * bytesize.MiB
	MaxDiskSize        = 2 * bytesize.TiB
)

// Defaults returns the configuration used when the config file sets
// nothing, derived from the host h:
//
//	vm.vcpus      min(2, host CPUs)
//	vm.memory     min(1GiB, host RAM / 4), rounded down to MiB, at least 128MiB
//	vm.disk_size  min(8GiB, free space in the state dir / 4), rounded down
//	              to MiB, at least 1GiB
//
// A host fact that is zero (unknown) gives the fixed default (2, 1GiB, 8GiB).
func Defaults(h Host) Config {
	return Config{
		LogLevel: DefaultLogLevel,
		VMM: VMM{
			Driver:         DefaultDriver,
			FirecrackerBin: DefaultFirecrackerBin,
			QemuBin:        DefaultQemuBin,
			StopTimeout:    Duration(DefaultStopTimeout),
		},
		VM: VMDefaults{
			VCPUs:    defaultVCPUs(h),
			Memory:   bytesize.Size(defaultMemory(h)),
			DiskSize: bytesize.Size(defaultDiskSize(h)),
			Image:    DefaultImage,

			DiskStrategy: DefaultDiskStrategy,
			WarmStart:    true,
		},
		Network: defaultNetwork(),
		DNS:     defaultDNS(),
	}
}

func defaultVCPUs(h Host) int {
	if h.CPUs <= 0 {
		return DefaultVCPUs
	}
	return min(DefaultVCPUs, h.CPUs)
}

func defaultMemory(h Host) int64 {
	if h.MemoryBytes <= 0 {
		return DefaultMemory
	}
	m := min(DefaultMemory, h.MemoryBytes/4)
	m -= m % bytesize.MiB
	return max(m, MinMemory)
}

func defaultDiskSize(h Host) int64 {
	if h.StateFreeBytes <= 0 {
		return DefaultDiskSize
	}
	d := min(DefaultDiskSize, h.StateFreeBytes/4)
	d -= d % bytesize.MiB
	return max(d, MinDefaultDiskSize)
}

// Duration is a time.Duration written as text in the config file ("10s",
// "1m30s").
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String returns d in time.Duration's form ("10s", "1m30s").
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalText writes d in time.Duration's form.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText parses text with time.ParseDuration.
func (d *Duration) UnmarshalText(text []byte) error {
	v, err := time.ParseDuration(string(text))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}
