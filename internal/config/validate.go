package config

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"banger/internal/bytesize"
	"banger/internal/errdefs"
)

// Error is an invalid config: every problem found, each naming the TOML key
// it is about, in the order of the keys in Config. Load and Validate return
// it classified as errdefs.InvalidArgument.
type Error struct {
	Path     string   // the config file; empty when the config did not come from a file
	Problems []string // e.g. `vm.vcpus = 0: must be between 1 and 2`
}

func (e *Error) Error() string {
	prefix := "invalid config"
	if e.Path != "" {
		prefix = "config " + e.Path
	}
	return prefix + ": " + strings.Join(e.Problems, "; ")
}

// problem is one thing wrong with a config. order sorts problems: the index
// of the key's field, or after every field for unknown keys.
type problem struct {
	key   string
	order int
	msg   string
}

// newError returns the classified error for probs, or nil when there are
// none.
func newError(path string, probs []problem) error {
	if len(probs) == 0 {
		return nil
	}
	slices.SortStableFunc(probs, func(a, b problem) int { return a.order - b.order })
	e := &Error{Path: path}
	for _, p := range probs {
		e.Problems = append(e.Problems, p.msg)
	}
	return errdefs.Wrap(errdefs.InvalidArgument, e)
}

// Validate checks every setting against its limits on host h and reports
// every problem at once.
func (c Config) Validate(h Host) error {
	return newError("", c.problems(h, nil))
}

// problems returns what is wrong with c, skipping the keys in skip (those
// that already failed to decode and so still hold their default).
func (c Config) problems(h Host, skip map[string]bool) []problem {
	var probs []problem
	check := func(key string, value any, reason string) {
		if reason == "" || skip[key] {
			return
		}
		probs = append(probs, problem{
			key:   key,
			order: fieldOrder(key),
			msg:   fmt.Sprintf("%s = %s: %s", key, show(value), reason),
		})
	}
	check("log_level", c.LogLevel, oneOf(c.LogLevel, LogLevels))
	check("vmm.driver", c.VMM.Driver, oneOf(c.VMM.Driver, Drivers))
	check("vmm.firecracker_bin", c.VMM.FirecrackerBin, commandReason(c.VMM.FirecrackerBin))
	check("vmm.qemu_bin", c.VMM.QemuBin, commandReason(c.VMM.QemuBin))
	check("vmm.stop_timeout", c.VMM.StopTimeout, stopTimeoutReason(c.VMM.StopTimeout))
	check("vm.vcpus", c.VM.VCPUs, vcpusReason(c.VM.VCPUs, h))
	check("vm.memory", c.VM.Memory, memoryReason(int64(c.VM.Memory), h))
	check("vm.disk_size", c.VM.DiskSize, diskSizeReason(int64(c.VM.DiskSize)))
	if strings.TrimSpace(c.VM.Image) == "" {
		check("vm.image", c.VM.Image, "must name an image, e.g. "+fmt.Sprintf("%q", DefaultImage))
	}
	check("vm.disk_strategy", c.VM.DiskStrategy, oneOf(c.VM.DiskStrategy, DiskStrategies))
	c.networkProblems(check)
	return probs
}

// The per-VM checks below serve API requests. They compare the number a
// request carries with the limits, before any arithmetic on it: a memory
// size in MiB is never shifted to bytes until it is known to fit. Their
// errors say only what is wrong with the value; the caller names the
// field.

// ValidateVCPUs checks a VM's vCPU count against the limits on host h.
func ValidateVCPUs(n int, h Host) error {
	if r := vcpusReason(n, h); r != "" {
		return errdefs.InvalidArgumentf("%s", r)
	}
	return nil
}

// ValidateMemoryMiB checks a VM's memory size in MiB against the limits
// on host h.
func ValidateMemoryMiB(mib int, h Host) error {
	lo, hi := MinMemory/bytesize.MiB, maxMemory(h)/bytesize.MiB
	if int64(mib) < lo || int64(mib) > hi {
		return errdefs.InvalidArgumentf("must be between %d and %d MiB (%s to %s%s)", lo, hi,
			bytesize.Format(MinMemory), bytesize.Format(hi*bytesize.MiB), ramNote(h))
	}
	return nil
}

// ValidateDiskSize checks the size in bytes of a VM's work disk.
func ValidateDiskSize(b int64) error {
	if b < MinDiskSize || b > MaxDiskSize {
		return errdefs.InvalidArgumentf("must be between %d and %d bytes (%s to %s)", MinDiskSize, MaxDiskSize,
			bytesize.Format(MinDiskSize), bytesize.Format(MaxDiskSize))
	}
	return nil
}

// maxVCPUs is the largest vCPU count a VM may have on h.
func maxVCPUs(h Host) int {
	if h.CPUs <= 0 {
		return MaxVCPUs
	}
	return min(MaxVCPUs, h.CPUs)
}

// maxMemory is the most memory a VM may have on h, a whole number of MiB:
// MaxMemory, or the host's RAM when that is less.
func maxMemory(h Host) int64 {
	if h.MemoryBytes > 0 && h.MemoryBytes < MaxMemory {
		return h.MemoryBytes - h.MemoryBytes%bytesize.MiB
	}
	return MaxMemory
}

// ramNote says when the host's RAM is the upper limit.
func ramNote(h Host) string {
	if maxMemory(h) < MaxMemory {
		return ", the host's RAM"
	}
	return ""
}

func vcpusReason(n int, h Host) string {
	if hi := maxVCPUs(h); n < 1 || n > hi {
		return fmt.Sprintf("must be between 1 and %d", hi)
	}
	return ""
}

func memoryReason(b int64, h Host) string {
	switch {
	case b < MinMemory:
		return "must be at least " + bytesize.Format(MinMemory)
	case h.MemoryBytes > 0 && b > h.MemoryBytes:
		return "must be at most " + bytesize.Format(h.MemoryBytes) + ", the host's RAM"
	case b > MaxMemory:
		return "must be at most " + bytesize.Format(MaxMemory)
	case b%bytesize.MiB != 0:
		return "must be a whole number of MiB"
	}
	return ""
}

func diskSizeReason(b int64) string {
	switch {
	case b < MinDiskSize:
		return "must be at least " + bytesize.Format(MinDiskSize)
	case b > MaxDiskSize:
		return "must be at most " + bytesize.Format(MaxDiskSize)
	}
	return ""
}

func stopTimeoutReason(d Duration) string {
	if d < 0 || d.D() > MaxStopTimeout {
		return fmt.Sprintf("must be between 0s and %s", MaxStopTimeout)
	}
	return ""
}

func commandReason(cmd string) string {
	if cmd == "" || (strings.Contains(cmd, "/") && !filepath.IsAbs(cmd)) {
		return "must be a command name looked up in PATH or an absolute path"
	}
	return ""
}

func oneOf(v string, valid []string) string {
	if slices.Contains(valid, v) {
		return ""
	}
	return "must be one of: " + strings.Join(valid, ", ")
}

// exactSize shows b so that it parses back to b.
func exactSize(b int64) string {
	if text, err := bytesize.Size(b).MarshalText(); err == nil {
		return string(text)
	}
	return fmt.Sprintf("%dB", b)
}

// show renders a decoded setting as it would appear in the config file.
func show(v any) string {
	switch v := v.(type) {
	case string:
		return fmt.Sprintf("%q", v)
	case bytesize.Size:
		return fmt.Sprintf("%q", exactSize(int64(v)))
	case Duration:
		return fmt.Sprintf("%q", v.String())
	case []string:
		return renderFull(stringsToAny(v))
	default:
		return fmt.Sprint(v)
	}
}

func stringsToAny(list []string) []any {
	out := make([]any, len(list))
	for i, s := range list {
		out[i] = s
	}
	return out
}
