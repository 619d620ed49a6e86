package daemon

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"banger/internal/api"
	"banger/internal/errdefs"
	"banger/internal/vm"
)

// opFunc is a long operation: it reports progress and returns its result.
type opFunc func(ctx context.Context, opID string, progress func(api.Event)) (any, error)

// runOp runs a long operation. A client that accepts NDJSON gets its
// progress events as they happen and then one result or error event (the
// status is 200 once streaming began); any other client gets the result
// as plain JSON with status ok, or an error.
func (d *Daemon) runOp(w http.ResponseWriter, r *http.Request, ok int, fn opFunc) {
	opID := opIDFrom(r.Context())
	if r.Header.Get("Accept") != api.NDJSON {
		res, err := fn(r.Context(), opID, nil)
		if err != nil {
			d.writeError(w, r, err)
			return
		}
		writeJSON(w, ok, res)
		return
	}
	w.Header().Set("Content-Type", api.NDJSON)
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)
	flusher, _ := w.(http.Flusher)
	send := func(ev api.Event) {
		_ = enc.Encode(ev) // a client that hung up is noticed through the context
		if flusher != nil {
			flusher.Flush()
		}
	}
	res, err := fn(r.Context(), opID, send)
	if err != nil {
		d.log.Info("operation failed", "op_id", opID, "code", string(errdefs.KindOf(err)), "err", err)
		e := apiError(err, opID)
		send(api.Event{Type: api.EventError, Time: time.Now(), OpID: opID, Error: &e})
		return
	}
	ev := api.Event{Type: api.EventResult, Time: time.Now(), OpID: opID}
	if v, isVM := res.(api.VM); isVM {
		ev.VM = &v
	} else if b, err := json.Marshal(res); err == nil && res != nil {
		ev.Result = b
	}
	send(ev)
}

func (d *Daemon) listVMs(w http.ResponseWriter, r *http.Request) {
	vms, err := d.vms.List(r.Context())
	if err != nil {
		d.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, mapSlice(vms, apiVM))
}

func (d *Daemon) getVM(w http.ResponseWriter, r *http.Request) {
	v, err := d.vms.Get(r.Context(), r.PathValue("ref"))
	if err != nil {
		d.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, apiVM(v))
}

func (d *Daemon) createVM(w http.ResponseWriter, r *http.Request) {
	var req api.CreateVMRequest
	if err := decode(w, r, &req); err != nil {
		d.writeError(w, r, err)
		return
	}
	d.runOp(w, r, http.StatusCreated, func(ctx context.Context, opID string, p func(api.Event)) (any, error) {
		v, err := d.vms.Create(ctx, opID, vmCreateRequest(req), vmProgress(p))
		return apiVM(v), err
	})
}

func (d *Daemon) deleteVM(w http.ResponseWriter, r *http.Request) {
	ref := r.PathValue("ref")
	d.runOp(w, r, http.StatusOK, func(ctx context.Context, opID string, p func(api.Event)) (any, error) {
		return struct{}{}, d.vms.Delete(ctx, opID, ref, vmProgress(p))
	})
}

// vmActionFunc is one action of POST /v1/vms/{ref}/{action}.
type vmActionFunc func(ctx context.Context, opID, ref string, p vm.Progress) (vm.VM, error)

// vmActions are the actions POST /v1/vms/{ref}/{action} takes.
func (d *Daemon) vmActions() map[string]vmActionFunc {
	return map[string]vmActionFunc{
		"start":   d.vms.Start,
		"stop":    d.vms.Stop,
		"restart": d.vms.Restart,
		"kill":    d.vms.Kill,
		"pause":   d.vms.Pause,
		"resume":  d.vms.Resume,
	}
}

func (d *Daemon) vmAction(w http.ResponseWriter, r *http.Request) {
	ref := r.PathValue("ref")
	name := r.PathValue("action")
	fn, ok := d.vmActions()[name]
	if !ok {
		d.writeError(w, r, errdefs.NotFoundf("unknown VM action %q: use start, stop, restart, kill, pause or resume", name))
		return
	}
	d.runOp(w, r, http.StatusOK, func(ctx context.Context, opID string, p func(api.Event)) (any, error) {
		v, err := fn(ctx, opID, ref, vmProgress(p))
		return apiVM(v), err
	})
}

func (d *Daemon) vmLogs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	follow := q.Get("follow") == "1" || q.Get("follow") == "true"
	tail := 0
	if t := q.Get("tail"); t != "" {
		n, err := strconv.Atoi(t)
		if err != nil || n < 0 {
			d.writeError(w, r, errdefs.InvalidArgumentf("tail=%q: must be a non-negative number of lines", t))
			return
		}
		tail = n
	}
	ref := r.PathValue("ref")
	if _, err := d.vms.Get(r.Context(), ref); err != nil {
		d.writeError(w, r, err)
		return
	}
	ctx, cancel := d.streamContext(r)
	defer cancel()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	bw := &flushWriter{w: bufio.NewWriterSize(w, 32<<10), f: w}
	if err := d.vms.Logs(ctx, ref, tail, follow, bw); err != nil {
		d.log.Warn("stream logs", "op_id", opIDFrom(r.Context()), "err", err)
	}
	bw.Flush()
}

// flushWriter buffers writes and flushes them to the client on Flush.
type flushWriter struct {
	w *bufio.Writer
	f http.ResponseWriter
}

func (f *flushWriter) Write(b []byte) (int, error) { return f.w.Write(b) }

func (f *flushWriter) Flush() {
	_ = f.w.Flush()
	if fl, ok := f.f.(http.Flusher); ok {
		fl.Flush()
	}
}
