package vmmproc

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
	"banger/internal/vmm"
)

// versionTimeout bounds `<binary> --version`.
const versionTimeout = 10 * time.Second

// Program is a VMM executable as a person installs and configures it. Its
// fields phrase the errors about a missing, broken or too old binary so
// that they say what to do.
type Program struct {
	// Name names the VMM in messages: "firecracker", "qemu".
	Name string
	// Binary is the configured executable: a name looked up in PATH, or a
	// path.
	Binary string
	// ConfigKey is the config key that sets Binary: "vmm.qemu_bin".
	ConfigKey string
	// Product is what Binary must be, asked about when its --version
	// makes no sense: "Firecracker", "qemu-system-x86_64".
	Product string
	// Install says how to get the VMM: "install QEMU (apt-get install
	// qemu-system-x86)".
	Install string
	// Upgrade says how to get a newer one: "upgrade QEMU".
	Upgrade string
	// MinVersion is the oldest version banger drives, e.g. "6.0.0".
	MinVersion string
}

// Lookup resolves Binary to an absolute path. A binary that is missing or
// not executable is a FailedPrecondition error that says what to install
// or which config key to set.
func (p Program) Lookup() (string, error) {
	path, err := exec.LookPath(p.Binary)
	if err != nil {
		var msg string
		switch {
		case errors.Is(err, fs.ErrPermission):
			msg = fmt.Sprintf("%s binary %q is not executable: make it executable or set %s in the config", p.Name, p.Binary, p.ConfigKey)
		case strings.ContainsRune(p.Binary, '/'):
			msg = fmt.Sprintf("%s binary %q not found: %s or set %s in the config", p.Name, p.Binary, p.Install, p.ConfigKey)
		default:
			msg = fmt.Sprintf("%s binary %q not found in PATH: %s or set %s in the config", p.Name, p.Binary, p.Install, p.ConfigKey)
		}
		return "", &errdefs.Error{Kind: errdefs.FailedPrecondition, Msg: msg, Err: err}
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("resolve %s binary %q: %w", p.Name, path, err)
	}
	return abs, nil
}

// Check resolves the binary, runs `<binary> --version` and refuses a
// version older than MinVersion, with FailedPrecondition errors. The
// returned Info is filled in as far as it got, also on error, so doctor
// can show it.
func (p Program) Check(ctx context.Context) (vmm.Info, error) {
	minV, err := ParseVersion(p.MinVersion)
	if err != nil {
		return vmm.Info{}, fmt.Errorf("%s minimum version: %w", p.Name, err)
	}
	bin, err := p.Lookup()
	if err != nil {
		return vmm.Info{}, err
	}
	info := vmm.Info{Binary: bin}
	ctx, cancel := context.WithTimeout(ctx, versionTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "--version").CombinedOutput()
	if err != nil {
		return info, errdefs.FailedPreconditionf("run %s --version: %w (output: %q): check the binary or set %s in the config",
			bin, err, Excerpt(string(out), 200), p.ConfigKey)
	}
	v, err := ParseVersion(string(out))
	if err != nil {
		return info, errdefs.FailedPreconditionf("%s --version: %w: is %s really %s?", bin, err, p.ConfigKey, p.Product)
	}
	info.Version = v.String()
	if !v.AtLeast(minV) {
		return info, errdefs.FailedPreconditionf("%s %s at %s is older than %s, the oldest banger supports: %s",
			p.Name, v, bin, p.MinVersion, p.Upgrade)
	}
	return info, nil
}
