package qemu

import (
	"errors"
	"fmt"
	"net"
	"strings"

	"banger/internal/vmm"
	"banger/internal/vmm/speccheck"
)

// Limits qemu, the microvm machine and Linux impose on a spec.
const (
	maxVCPUs     = 32  // kept equal to Firecracker's, so a VM runs on both
	maxSunPath   = 107 // sockaddr_un.sun_path without the trailing NUL
	maxIfaceName = 15  // IFNAMSIZ without the trailing NUL
)

// validateLaunch checks spec before anything touches the host, reporting
// every problem at once. qemu takes the whole machine on its command line,
// so Launch needs everything Firecracker's Boot needs. VsockCID and
// MetricsPath mean nothing to qemu and are not checked.
func validateLaunch(spec vmm.Spec) error {
	var errs []error
	errs = append(errs, speccheck.ID(spec.ID)...)
	if err := speccheck.Abs("RuntimeDir", spec.RuntimeDir); err != nil {
		errs = append(errs, err)
	} else if strings.ContainsRune(spec.RuntimeDir, ',') {
		errs = append(errs, fmt.Errorf("RuntimeDir: %q contains a ',', which qemu's -qmp option cannot take: use another runtime directory", spec.RuntimeDir))
	} else if sock := QMPSocketPath(spec.RuntimeDir); len(sock) > maxSunPath {
		errs = append(errs, fmt.Errorf("RuntimeDir: qmp socket path %q is %d bytes, longer than the %d a unix socket allows: use a shorter runtime directory", sock, len(sock), maxSunPath))
	}
	errs = speccheck.Append(errs, speccheck.Abs("ConsoleLog", spec.ConsoleLog))
	errs = speccheck.Append(errs, speccheck.Abs("VMMLog", spec.VMMLog))
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
		if len(spec.Tap) > maxIfaceName || strings.ContainsAny(spec.Tap, ", /") {
			errs = append(errs, fmt.Errorf("%s: %q is not an interface name of at most %d bytes", "Tap", spec.Tap, maxIfaceName))
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
	}
	return speccheck.Join(errs)
}

// validateProcess checks the handle Boot gets.
func validateProcess(p vmm.Process) error {
	var errs []error
	if p.PID <= 0 {
		errs = append(errs, fmt.Errorf("process: pid %d is not a process id", p.PID))
	}
	if p.APISocket == "" {
		errs = append(errs, errors.New("process: qmp socket is empty"))
	}
	return speccheck.Join(errs)
}
