package qemu

import (
	"context"
	"fmt"
	"time"

	"banger/internal/vmm"
	"banger/internal/vmm/vmmproc"
)

// readyProbeTimeout bounds one readiness probe of QMP.
const readyProbeTimeout = time.Second

// Launch starts qemu for spec, paused, in its own session: the guest's
// serial console appended to spec.ConsoleLog (qemu's stdout), qemu's own
// messages appended to spec.VMMLog (its stderr). It returns once QMP
// answers. spec.RuntimeDir must already exist and be private (see
// vmmproc.CheckRuntimeDir); Launch does not create it. On any error the
// process is killed and its sockets removed.
func (d *Driver) Launch(ctx context.Context, spec vmm.Spec) (vmm.Process, error) {
	if err := validateLaunch(spec); err != nil {
		return vmm.Process{}, err
	}
	if err := ctx.Err(); err != nil {
		return vmm.Process{}, fmt.Errorf("launch vm %s: %w", spec.ID, err)
	}
	bin, err := d.program().Lookup()
	if err != nil {
		return vmm.Process{}, err
	}
	accel, err := d.accelerator(ctx, bin, spec.Kernel)
	if err != nil {
		return vmm.Process{}, err
	}
	sock := QMPSocketPath(spec.RuntimeDir)
	return vmmproc.Start(ctx, vmmproc.Command{
		Name:        "qemu",
		VM:          spec.ID,
		Path:        bin,
		Args:        Args(spec, accel.name, d.cfg.TCGASLR),
		RuntimeDir:  spec.RuntimeDir,
		Stdout:      spec.ConsoleLog,
		Stderr:      spec.VMMLog,
		Socket:      sock,
		SocketKind:  "qmp socket",
		MoreSockets: []string{spec.VsockPath}, // the agent channel's
		Ready: func(ctx context.Context) error {
			ctx, cancel := context.WithTimeout(ctx, readyProbeTimeout)
			defer cancel()
			return qmpDo(ctx, sock, func(*qmpConn) error { return nil })
		},
		Timeout: d.cfg.LaunchTimeout,
	})
}
