package daemon

import (
	"net/http"

	"banger/internal/disk"
	"banger/internal/doctor"
)

func (d *Daemon) doctor(w http.ResponseWriter, r *http.Request) {
	report := doctor.Run(r.Context(), doctor.Deps{
		KVMPath:    "/dev/kvm",
		Driver:     d.driver,
		DriverName: d.driver.Name(),
		Tools: func() []doctor.Tool {
			var out []doctor.Tool
			for _, t := range disk.CheckTools() {
				out = append(out, doctor.Tool{Name: t.Name, Path: t.Path, Err: t.Err})
			}
			return out
		},
		Store:      d.store,
		RuntimeDir: d.opts.Layout.RuntimeDir,
		Socket:     d.opts.Layout.Socket(),
		StateDir:   d.opts.Layout.StateDir,
		UID:        d.opts.UID,
	})
	writeJSON(w, http.StatusOK, report)
}
