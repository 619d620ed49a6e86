package qemu

import (
	"fmt"
	"strings"

	"banger/internal/vmm"
	"banger/internal/vmm/speccheck"
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
	} else if sock := QMPSocketPath(spec.RuntimeDir); len(sock) > speccheck.MaxSunPath {
		errs = append(errs, fmt.Errorf("RuntimeDir: qmp socket path %q is %d bytes, longer than the %d a unix socket allows: use a shorter runtime directory", sock, len(sock), speccheck.MaxSunPath))
	}
	errs = speccheck.Append(errs, speccheck.Abs("ConsoleLog", spec.ConsoleLog))
	errs = speccheck.Append(errs, speccheck.Abs("VMMLog", spec.VMMLog))
	errs = append(errs, speccheck.Machine(spec)...)
	return speccheck.Join(errs)
}

// validateProcess checks the handle Boot gets.
func validateProcess(p vmm.Process) error {
	return speccheck.Join(speccheck.Process(p, "qmp socket"))
}
