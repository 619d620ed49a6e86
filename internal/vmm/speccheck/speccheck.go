// Package speccheck holds the checks of vmm.Spec fields that every VMM
// driver applies the same way, so that a spec one driver accepts the other
// accepts too, with the same messages. Each check names the field; Join
// reports every problem at once as one InvalidArgument error. It touches
// the host only to stat the files a spec names.
package speccheck

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"banger/internal/errdefs"
	"banger/internal/vmm"
)

// MaxID is the longest VM id a driver accepts (Firecracker's --id limit).
const MaxID = 64

// ID checks a VM id: 1-64 letters, digits and '-', which Firecracker's
// --id takes and which is safe in every path and option banger builds.
func ID(id string) []error {
	if id == "" {
		return []error{errors.New("ID: is empty")}
	}
	if len(id) > MaxID {
		return []error{fmt.Errorf("ID: %q is longer than %d characters", id, MaxID)}
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
			return []error{fmt.Errorf("ID: %q may only contain letters, digits and '-'", id)}
		}
	}
	return nil
}

// Abs checks that path is set and absolute.
func Abs(field, path string) error {
	if path == "" {
		return fmt.Errorf("%s: is empty", field)
	}
	if !filepath.IsAbs(path) {
		return fmt.Errorf("%s: %q is not an absolute path", field, path)
	}
	return nil
}

// File checks that path is an absolute path to an existing regular file
// (or block device). An empty path is an error only when required.
func File(field, path string, required bool) error {
	if path == "" && !required {
		return nil
	}
	if err := Abs(field, path); err != nil {
		return err
	}
	info, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%s: %s does not exist", field, path)
		}
		return fmt.Errorf("%s: %w", field, err)
	}
	if !info.Mode().IsRegular() && info.Mode()&os.ModeDevice == 0 {
		return fmt.Errorf("%s: %s is not a file", field, path)
	}
	return nil
}

// Append adds err to errs unless it is nil.
func Append(errs []error, err error) []error {
	if err != nil {
		return append(errs, err)
	}
	return errs
}

// Join turns the problems found in a spec into one InvalidArgument error,
// or nil when there are none.
func Join(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	return errdefs.Wrap(errdefs.InvalidArgument, fmt.Errorf("invalid vm spec: %w", errors.Join(errs...)))
}

// Limits Linux and both VMMs impose on a spec.
const (
	MaxVCPUs     = 32  // Firecracker's vcpu_count limit; qemu keeps to it so a VM runs on both
	MaxSunPath   = 107 // sockaddr_un.sun_path without the trailing NUL
	MaxIfaceName = 15  // IFNAMSIZ without the trailing NUL
)

// Machine checks the fields that describe the machine itself: vCPUs,
// memory, the kernel, initrd and disks, the network device and the
// agent's socket path. Every driver needs them all before it boots.
func Machine(spec vmm.Spec) []error {
	var errs []error
	if spec.VCPUs < 1 || spec.VCPUs > MaxVCPUs {
		errs = append(errs, fmt.Errorf("VCPUs: %d is outside 1..%d", spec.VCPUs, MaxVCPUs))
	}
	if spec.MemoryMiB < 1 {
		errs = append(errs, fmt.Errorf("MemoryMiB: %d is not a positive size", spec.MemoryMiB))
	}
	errs = Append(errs, File("Kernel", spec.Kernel, true))
	errs = Append(errs, File("Initrd", spec.Initrd, false))
	errs = Append(errs, File("RootDisk", spec.RootDisk, true))
	switch spec.RootDiskFormat {
	case "", vmm.DiskRaw, vmm.DiskQCOW2:
	default:
		errs = append(errs, fmt.Errorf("RootDiskFormat: %q is not %q or %q", spec.RootDiskFormat, vmm.DiskRaw, vmm.DiskQCOW2))
	}
	errs = Append(errs, File("WorkDisk", spec.WorkDisk, false))
	errs = Append(errs, File("IdentityDisk", spec.IdentityDisk, false))
	if spec.Tap != "" {
		if len(spec.Tap) > MaxIfaceName || strings.ContainsAny(spec.Tap, ", /") {
			errs = append(errs, fmt.Errorf("%s: %q is not an interface name of at most %d bytes", "Tap", spec.Tap, MaxIfaceName))
		}
		if hw, err := net.ParseMAC(spec.MAC); err != nil || len(hw) != 6 {
			errs = append(errs, fmt.Errorf("MAC: %q is not a 6-byte MAC address like aa:bb:cc:dd:ee:ff", spec.MAC))
		}
	}
	if spec.VsockPath != "" {
		errs = Append(errs, Socket("VsockPath", spec.VsockPath))
	}
	return errs
}

// Socket checks that path is absolute and short enough for a unix socket.
func Socket(field, path string) error {
	if err := Abs(field, path); err != nil {
		return err
	}
	if len(path) > MaxSunPath {
		return fmt.Errorf("%s: %q is %d bytes, longer than the %d a unix socket allows", field, path, len(path), MaxSunPath)
	}
	return nil
}

// Process checks the handle of a launched VMM; socket names its control
// socket ("api socket", "qmp socket") in the messages.
func Process(p vmm.Process, socket string) []error {
	var errs []error
	if p.PID <= 0 {
		errs = append(errs, fmt.Errorf("process: pid %d is not a process id", p.PID))
	}
	if p.APISocket == "" {
		errs = append(errs, fmt.Errorf("process: %s is empty", socket))
	}
	return errs
}
