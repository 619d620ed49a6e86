package qemu

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

// Limits qemu, the microvm machine and Linux impose on a spec.
const (
	maxID        = 64  // banger's own limit, kept equal to Firecracker's
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
	errs = append(errs, checkID(spec.ID)...)
	if err := checkAbs("RuntimeDir", spec.RuntimeDir); err != nil {
		errs = append(errs, err)
	} else if strings.ContainsRune(spec.RuntimeDir, ',') {
		errs = append(errs, fmt.Errorf("RuntimeDir: %q contains a ',', which qemu's -qmp option cannot take: use another runtime directory", spec.RuntimeDir))
	} else if sock := QMPSocketPath(spec.RuntimeDir); len(sock) > maxSunPath {
		errs = append(errs, fmt.Errorf("RuntimeDir: qmp socket path %q is %d bytes, longer than the %d a unix socket allows: use a shorter runtime directory", sock, len(sock), maxSunPath))
	}
	errs = appendErr(errs, checkAbs("ConsoleLog", spec.ConsoleLog))
	errs = appendErr(errs, checkAbs("VMMLog", spec.VMMLog))
	if spec.VCPUs < 1 || spec.VCPUs > maxVCPUs {
		errs = append(errs, fmt.Errorf("VCPUs: %d is outside 1..%d", spec.VCPUs, maxVCPUs))
	}
	if spec.MemoryMiB < 1 {
		errs = append(errs, fmt.Errorf("MemoryMiB: %d is not a positive size", spec.MemoryMiB))
	}
	errs = appendErr(errs, checkFile("Kernel", spec.Kernel, true))
	errs = appendErr(errs, checkFile("Initrd", spec.Initrd, false))
	errs = appendErr(errs, checkFile("RootDisk", spec.RootDisk, true))
	errs = appendErr(errs, checkFile("WorkDisk", spec.WorkDisk, false))
	if spec.Tap != "" {
		if len(spec.Tap) > maxIfaceName || strings.ContainsAny(spec.Tap, ", /") {
			errs = append(errs, fmt.Errorf("%s: %q is not an interface name of at most %d bytes", "Tap", spec.Tap, maxIfaceName))
		}
		if hw, err := net.ParseMAC(spec.MAC); err != nil || len(hw) != 6 {
			errs = append(errs, fmt.Errorf("%s: %q is not a 6-byte MAC address like aa:bb:cc:dd:ee:ff", "MAC", spec.MAC))
		}
	}
	if spec.VsockPath != "" {
		if err := checkAbs("VsockPath", spec.VsockPath); err != nil {
			errs = append(errs, err)
		} else if len(spec.VsockPath) > maxSunPath {
			errs = append(errs, fmt.Errorf("VsockPath: %q is %d bytes, longer than the %d a unix socket allows", spec.VsockPath, len(spec.VsockPath), maxSunPath))
		}
	}
	return joinSpecErrors(errs)
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
	return joinSpecErrors(errs)
}

func checkID(id string) []error {
	if id == "" {
		return []error{errors.New("ID: is empty")}
	}
	if len(id) > maxID {
		return []error{fmt.Errorf("ID: %q is longer than %d characters", id, maxID)}
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
			return []error{fmt.Errorf("ID: %q may only contain letters, digits and '-'", id)}
		}
	}
	return nil
}

func checkAbs(field, path string) error {
	if path == "" {
		return fmt.Errorf("%s: is empty", field)
	}
	if !filepath.IsAbs(path) {
		return fmt.Errorf("%s: %q is not an absolute path", field, path)
	}
	return nil
}

// checkFile checks that path is an absolute path to an existing regular
// file (or block device). An empty path is an error only when required.
func checkFile(field, path string, required bool) error {
	if path == "" && !required {
		return nil
	}
	if err := checkAbs(field, path); err != nil {
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

func appendErr(errs []error, err error) []error {
	if err != nil {
		return append(errs, err)
	}
	return errs
}

func joinSpecErrors(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	return errdefs.Wrap(errdefs.InvalidArgument, fmt.Errorf("invalid vm spec: %w", errors.Join(errs...)))
}
