package firecracker

import (
	"errors"
	"fmt"
	"net"

	"banger/internal/vmm"
	"banger/internal/vmm/speccheck"
)

// Limits Firecracker and Linux impose on a spec.
const (
	maxVCPUs     = 32  // machine-config vcpu_count
	maxSunPath   = 107 // sockaddr_un.sun_path without the trailing NUL
	maxIfaceName = 15  // IFNAMSIZ without the trailing NUL
)

// validateLaunch checks what Launch needs from spec, reporting every
// problem at once.
func validateLaunch(spec vmm.Spec) error {
	var errs []error
	errs = append(errs, speccheck.ID(spec.ID)...)
	if err := speccheck.Abs("RuntimeDir", spec.RuntimeDir); err != nil {
		errs = append(errs, err)
	} else if sock := APISocketPath(spec.RuntimeDir); len(sock) > maxSunPath {
		errs = append(errs, fmt.Errorf("RuntimeDir: api socket path %q is %d bytes, longer than the %d a unix socket allows: use a shorter runtime directory", sock, len(sock), maxSunPath))
	}
	if err := speccheck.Abs("ConsoleLog", spec.ConsoleLog); err != nil {
		errs = append(errs, err)
	}
	if err := speccheck.Abs("VMMLog", spec.VMMLog); err != nil {
		errs = append(errs, err)
	}
	return speccheck.Join(errs)
}

// validateBoot checks what Boot needs from spec and p before anything is
// sent to Firecracker, reporting every problem at once.
func validateBoot(spec vmm.Spec, p vmm.Process) error {
	var errs []error
	if p.PID <= 0 {
		errs = append(errs, fmt.Errorf("process: pid %d is not a process id", p.PID))
	}
	if p.APISocket == "" {
		errs = append(errs, errors.New("process: api socket is empty"))
	}
	if spec.VCPUs < 1 || spec.VCPUs > maxVCPUs {
		errs = append(errs, fmt.Errorf("VCPUs: %d is outside 1..%d", spec.VCPUs, maxVCPUs))
	}
	if spec.MemoryMiB < 1 {
		errs = append(errs, fmt.Errorf("MemoryMiB: %d is not a positive size", spec.MemoryMiB))
	}
	errs = speccheck.Append(errs, speccheck.File("Kernel", spec.Kernel, true))
	errs = speccheck.Append(errs, speccheck.File("Initrd", spec.Initrd, false))
	errs = speccheck.Append(errs, speccheck.File("RootDisk", spec.RootDisk, true))
	errs = speccheck.Append(errs, speccheck.File("WorkDisk", spec.WorkDisk, false))
	if spec.Tap != "" {
		if len(spec.Tap) > maxIfaceName {
			errs = append(errs, fmt.Errorf("%s: %q is longer than %d bytes", "Tap", spec.Tap, maxIfaceName))
		}
		if hw, err := net.ParseMAC(spec.MAC); err != nil || len(hw) != 6 {
			errs = append(errs, fmt.Errorf("%s: %q is not a 6-byte MAC address like aa:bb:cc:dd:ee:ff", "MAC", spec.MAC))
		}
	}
	if spec.VsockPath != "" {
		if err := speccheck.Abs("VsockPath", spec.VsockPath); err != nil {
			errs = append(errs, err)
		} else if len(spec.VsockPath) > maxSunPath {
			errs = append(errs, fmt.Errorf("VsockPath: %q is %d bytes, longer than the %d a unix socket allows", spec.VsockPath, len(spec.VsockPath), maxSunPath))
		}
		if spec.VsockCID < 3 {
			errs = append(errs, fmt.Errorf("VsockCID: %d is reserved: guest CIDs start at 3", spec.VsockCID))
		}
	}
	if spec.MetricsPath != "" {
		errs = speccheck.Append(errs, speccheck.Abs("MetricsPath", spec.MetricsPath))
	}
	return speccheck.Join(errs)
}
