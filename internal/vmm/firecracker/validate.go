package firecracker

import (
	"fmt"

	"banger/internal/vmm"
	"banger/internal/vmm/speccheck"
)

// validateLaunch checks what Launch needs from spec, reporting every
// problem at once.
func validateLaunch(spec vmm.Spec) error {
	var errs []error
	errs = append(errs, speccheck.ID(spec.ID)...)
	if err := speccheck.Abs("RuntimeDir", spec.RuntimeDir); err != nil {
		errs = append(errs, err)
	} else if sock := APISocketPath(spec.RuntimeDir); len(sock) > speccheck.MaxSunPath {
		errs = append(errs, fmt.Errorf("RuntimeDir: api socket path %q is %d bytes, longer than the %d a unix socket allows: use a shorter runtime directory", sock, len(sock), speccheck.MaxSunPath))
	}
	errs = speccheck.Append(errs, speccheck.Abs("ConsoleLog", spec.ConsoleLog))
	errs = speccheck.Append(errs, speccheck.Abs("VMMLog", spec.VMMLog))
	return speccheck.Join(errs)
}

// validateBoot checks what Boot needs from spec and p before anything is
// sent to Firecracker, reporting every problem at once.
func validateBoot(spec vmm.Spec, p vmm.Process) error {
	errs := speccheck.Process(p, "api socket")
	errs = append(errs, speccheck.Machine(spec)...)
	if spec.RootDiskFormat == vmm.DiskQCOW2 {
		errs = append(errs, fmt.Errorf("RootDiskFormat: Firecracker reads raw disks only, and %s is a qcow2 overlay: boot this VM with vmm.driver = \"qemu\"", spec.RootDisk))
	}
	if spec.VsockPath != "" && spec.VsockCID < 3 {
		errs = append(errs, fmt.Errorf("VsockCID: %d is reserved: guest CIDs start at 3", spec.VsockCID))
	}
	if spec.MetricsPath != "" {
		errs = speccheck.Append(errs, speccheck.Abs("MetricsPath", spec.MetricsPath))
	}
	return speccheck.Join(errs)
}
