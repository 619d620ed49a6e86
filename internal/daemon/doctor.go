package daemon

import (
	"context"
	"net/http"

	"banger/internal/disk"
	"banger/internal/doctor"
	"banger/internal/imagebuild"
	"banger/internal/kernelbuild"
	"banger/internal/kernels"
)

func (d *Daemon) doctor(w http.ResponseWriter, r *http.Request) {
	report := doctor.Run(r.Context(), doctor.Deps{
		KVMPath:    "/dev/kvm",
		Driver:     d.driver,
		DriverName: d.driver.Name(),
		DriverWhy:  d.driverWhy,
		Tools: func() []doctor.Tool {
			var out []doctor.Tool
			for _, t := range disk.CheckTools() {
				out = append(out, doctor.Tool{Name: t.Name, Path: t.Path, Err: t.Err})
			}
			return out
		},
		Prereqs:    func() []doctor.Tool { return d.prereqs(r.Context()) },
		Extra:      func() []doctor.Check { return d.net.doctorChecks(r.Context()) },
		Store:      d.store,
		RuntimeDir: d.opts.Layout.RuntimeDir,
		Socket:     d.opts.Layout.Socket(),
		StateDir:   d.opts.Layout.StateDir,
		UID:        d.opts.UID,
	})
	writeJSON(w, http.StatusOK, apiDoctorReport(report))
}

// prereqs are what building kernels and images and booting real guests
// need beyond the basics: missing ones are warnings, since registered
// images boot without them.
func (d *Daemon) prereqs(ctx context.Context) []doctor.Tool {
	var out []doctor.Tool
	src, err := kernelbuild.Preflight()
	out = append(out, doctor.Tool{Name: "kernel build", Path: src, Err: err, Optional: true,
		Fix: "sudo apt-get install build-essential flex bison bc perl libelf-dev libssl-dev cpio xz-utils linux-source-6.1"})
	tool, fix, err := imagebuild.Preflight()
	out = append(out, doctor.Tool{Name: "image build", Path: tool, Err: err, Optional: true, Fix: fix})
	agent, err := agentBinary()
	out = append(out, doctor.Tool{Name: "guest agent", Path: agent, Err: err, Optional: true,
		Fix: "make build (banger-agent must sit next to bangerd)"})
	k, err := d.store.GetKernel(ctx, kernels.DefaultName)
	out = append(out, doctor.Tool{Name: "default kernel", Path: k.Vmlinux, Err: err, Optional: true,
		Fix: "banger kernel build (banger vm run does it on first use)"})
	img, err := d.store.GetImage(ctx, d.opts.Config.VM.Image)
	out = append(out, doctor.Tool{Name: "default image", Path: img.RootFS, Err: err, Optional: true,
		Fix: "banger image build (banger vm run does it on first use)"})
	return out
}
