package qemu

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"banger/internal/errdefs"
	"banger/internal/vmm"
)

// MinVersion is the oldest qemu banger drives: 6.0 is the first release
// whose microvm machine takes every option banger uses (acpi=off and the
// on/off option syntax).
const MinVersion = "6.0.0"

// checkTimeout bounds `qemu-system-x86_64 --version`.
const checkTimeout = 10 * time.Second

// Version is a qemu release number.
type Version struct {
	Major, Minor, Patch int
}

func (v Version) String() string { return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch) }

// AtLeast reports whether v is o or newer.
func (v Version) AtLeast(o Version) bool {
	if v.Major != o.Major {
		return v.Major > o.Major
	}
	if v.Minor != o.Minor {
		return v.Minor > o.Minor
	}
	return v.Patch >= o.Patch
}

// ParseVersion finds the version in the output of `qemu-system-x86_64
// --version` ("QEMU emulator version 7.2.22 (Debian ...)") or in a bare
// version; a missing patch number counts as 0.
func ParseVersion(s string) (Version, error) {
	fields := strings.Fields(s)
	// The number after "version" wins over numbers in the package note.
	for i, f := range fields {
		if f == "version" && i+1 < len(fields) {
			if v, ok := parseVersionField(fields[i+1]); ok {
				return v, nil
			}
		}
	}
	for _, f := range fields {
		if v, ok := parseVersionField(f); ok {
			return v, nil
		}
	}
	return Version{}, fmt.Errorf("no qemu version (like \"QEMU emulator version 7.2.0\") in %q", truncate(s, 200))
}

func parseVersionField(f string) (Version, bool) {
	parts := strings.Split(strings.TrimPrefix(f, "v"), ".")
	if len(parts) < 2 || len(parts) > 3 {
		return Version{}, false
	}
	var n [3]int
	for i, p := range parts {
		x, err := strconv.Atoi(p)
		if err != nil || x < 0 || p == "" || p[0] == '+' {
			return Version{}, false
		}
		n[i] = x
	}
	return Version{Major: n[0], Minor: n[1], Patch: n[2]}, true
}

// Check resolves the qemu binary, runs `<binary> --version`, refuses
// versions older than MinVersion and decides the accelerator. Info.Version
// says which accelerator VMs get and why, e.g. "7.2.22 (tcg: /dev/kvm
// cannot run a guest here: ...)" or "7.2.22 (kvm)". The returned Info is
// filled in as far as it got, also on error, so doctor can show it.
func (d *Driver) Check(ctx context.Context) (vmm.Info, error) {
	bin, err := d.binary()
	if err != nil {
		return vmm.Info{}, err
	}
	info := vmm.Info{Binary: bin}
	vctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	out, err := exec.CommandContext(vctx, bin, "--version").CombinedOutput()
	if err != nil {
		return info, errdefs.FailedPreconditionf("run %s --version: %w (output: %q): check the binary or set vmm.qemu_bin in the config",
			bin, err, truncate(string(out), 200))
	}
	v, err := ParseVersion(string(out))
	if err != nil {
		return info, errdefs.FailedPreconditionf("%s --version: %w: is vmm.qemu_bin really qemu-system-x86_64?", bin, err)
	}
	info.Version = v.String()
	minV, _ := ParseVersion(MinVersion)
	if !v.AtLeast(minV) {
		return info, errdefs.FailedPreconditionf("qemu %s at %s is older than %s, the oldest banger supports: upgrade QEMU", v, bin, MinVersion)
	}
	accel, err := d.accelerator(ctx, bin, d.cfg.ProbeKernel)
	if err != nil {
		return info, err
	}
	info.Version += " (" + accel.String() + ")"
	return info, nil
}

func truncate(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
