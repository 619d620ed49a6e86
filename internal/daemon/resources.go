package daemon

import (
	"encoding/json"
	"net/http"
	"os"
	"strconv"

	"banger/internal/api"
	"banger/internal/errdefs"
	"banger/internal/store"
	"banger/internal/vm"
)

func (d *Daemon) listImages(w http.ResponseWriter, r *http.Request) {
	imgs, err := d.images.List(r.Context())
	if err != nil {
		d.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, mapSlice(imgs, apiImage))
}

func (d *Daemon) getImage(w http.ResponseWriter, r *http.Request) {
	img, err := d.images.Get(r.Context(), r.PathValue("ref"))
	if err != nil {
		d.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, apiImage(img))
}

func (d *Daemon) registerImage(w http.ResponseWriter, r *http.Request) {
	var req api.RegisterImageRequest
	if err := decode(w, r, &req); err != nil {
		d.writeError(w, r, err)
		return
	}
	img, err := d.images.Register(r.Context(), imageRegisterRequest(req))
	if err != nil {
		d.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, apiImage(img))
}

// removeImage removes an image (DELETE /v1/images/{ref}) with its warm
// snapshots.
func (d *Daemon) removeImage(w http.ResponseWriter, r *http.Request) {
	img, err := d.images.Get(r.Context(), r.PathValue("ref"))
	if err != nil {
		d.writeError(w, r, err)
		return
	}
	if err := d.vms.RemoveWarm(r.Context(), img.ID); err != nil {
		d.writeError(w, r, err)
		return
	}
	if err := d.images.Remove(r.Context(), img.ID); err != nil {
		d.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

func (d *Daemon) listOperations(w http.ResponseWriter, r *http.Request) {
	limit := 50
	if l := r.URL.Query().Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 1000 {
			d.writeError(w, r, errdefs.InvalidArgumentf("limit=%q: must be a number from 1 to 1000", l))
			return
		}
		limit = n
	}
	ops, err := d.store.ListOperations(r.Context(), limit)
	if err != nil {
		d.writeError(w, r, err)
		return
	}
	out := make([]api.Operation, 0, len(ops))
	for _, o := range ops {
		out = append(out, toAPIOp(o))
	}
	writeJSON(w, http.StatusOK, out)
}

func (d *Daemon) getOperation(w http.ResponseWriter, r *http.Request) {
	o, err := d.store.GetOperation(r.Context(), r.PathValue("id"))
	if err != nil {
		d.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toAPIOp(o))
}

func toAPIOp(o store.Operation) api.Operation {
	return api.Operation{ID: o.ID, Kind: o.Kind, Target: o.Target, State: o.State, Step: o.Step,
		Error: o.Error, StartedAt: o.StartedAt, FinishedAt: o.FinishedAt}
}

// events streams VM and operation events as NDJSON until the client hangs
// up or the daemon shuts down.
func (d *Daemon) events(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := d.streamContext(r)
	defer cancel()
	ch, unsubscribe := d.vms.Events().Subscribe()
	defer unsubscribe()
	w.Header().Set("Content-Type", api.NDJSON)
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	if flusher != nil {
		flusher.Flush()
	}
	enc := json.NewEncoder(w)
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-ch:
			if err := enc.Encode(apiVMEvent(ev)); err != nil {
				return
			}
			if flusher != nil {
				flusher.Flush()
			}
		}
	}
}

func (d *Daemon) info(w http.ResponseWriter, r *http.Request) {
	vms, err := d.vms.List(r.Context())
	if err != nil {
		d.writeError(w, r, err)
		return
	}
	imgs, err := d.images.List(r.Context())
	if err != nil {
		d.writeError(w, r, err)
		return
	}
	running := 0
	for _, v := range vms {
		if v.State == vm.StateRunning {
			running++
		}
	}
	writeJSON(w, http.StatusOK, api.SystemInfo{
		Version:         d.opts.Version,
		PID:             os.Getpid(),
		StartedAt:       d.started,
		Driver:          d.driver.Name(),
		DiskStrategy:    d.cow.Name(),
		DiskStrategyWhy: d.cowWhy,
		StateDir:        d.opts.Layout.StateDir,
		RuntimeDir:      d.opts.Layout.RuntimeDir,
		Socket:          d.opts.Layout.Socket(),
		ConfigFile:      d.opts.ConfigFile,
		DefaultImage:    d.opts.Config.VM.Image,
		VMs:             len(vms),
		Running:         running,
		Images:          len(imgs),
		Network:         d.net.info(r.Context()),
	})
}

// shutdownDaemon answers, then makes Serve return as SIGTERM does: in-flight
// requests finish, VMs keep running.
func (d *Daemon) shutdownDaemon(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusAccepted, api.ShutdownReply{PID: os.Getpid()})
	d.requestShutdown()
}
