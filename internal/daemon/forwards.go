package daemon

import (
	"net/http"
	"strconv"

	"banger/internal/api"
	"banger/internal/errdefs"
	"banger/internal/network"
	"banger/internal/portfwd"
	"banger/internal/store"
)

// defaultForwardAddr is where forwards listen unless asked otherwise.
const defaultForwardAddr = "127.0.0.1"

func (d *Daemon) vmPorts(w http.ResponseWriter, r *http.Request) {
	ports, err := d.vms.Ports(r.Context(), r.PathValue("ref"))
	if err != nil {
		d.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, mapSlice(ports, apiPort))
}

// forwardVM resolves the VM of a forwards request, failing when
// networking is off.
func (d *Daemon) forwardVM(r *http.Request) (store.VM, error) {
	if d.net == nil {
		return store.VM{}, errdefs.FailedPreconditionf("networking is off (network.enabled = false): VMs have no ports to forward")
	}
	return d.store.GetVM(r.Context(), r.PathValue("ref"))
}

func (d *Daemon) listForwards(w http.ResponseWriter, r *http.Request) {
	rec, err := d.forwardVM(r)
	if err != nil {
		d.writeError(w, r, err)
		return
	}
	fs, err := d.net.svc.Forwards(r.Context(), rec.ID)
	if err != nil {
		d.writeError(w, r, err)
		return
	}
	out := make([]api.Forward, 0, len(fs))
	for _, f := range fs {
		out = append(out, apiForward(rec.Name, f))
	}
	writeJSON(w, http.StatusOK, out)
}

func (d *Daemon) addForward(w http.ResponseWriter, r *http.Request) {
	var req api.ForwardRequest
	if err := decode(w, r, &req); err != nil {
		d.writeError(w, r, err)
		return
	}
	rec, err := d.forwardVM(r)
	if err != nil {
		d.writeError(w, r, err)
		return
	}
	if req.HostAddr == "" {
		req.HostAddr = defaultForwardAddr
	}
	f, err := d.net.svc.Forward(r.Context(), rec.ID, req.HostAddr, req.HostPort, req.GuestPort)
	if err != nil {
		d.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, apiForward(rec.Name, f))
}

func (d *Daemon) removeForward(w http.ResponseWriter, r *http.Request) {
	rec, err := d.forwardVM(r)
	if err != nil {
		d.writeError(w, r, err)
		return
	}
	port, err := strconv.Atoi(r.PathValue("port"))
	if err != nil {
		d.writeError(w, r, errdefs.InvalidArgumentf("host port %q: want a number", r.PathValue("port")))
		return
	}
	addr := r.URL.Query().Get("host_addr")
	if addr == "" {
		addr = defaultForwardAddr
	}
	if err := d.net.svc.StopForward(r.Context(), rec.ID, addr, port); err != nil {
		d.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func apiForward(vm string, f store.Forward) api.Forward {
	return api.Forward{VM: vm, HostAddr: f.HostAddr, HostPort: f.HostPort, GuestPort: f.GuestPort}
}

// tcpRelay adapts portfwd to the network service.
type tcpRelay struct{ f *portfwd.Forward }

func (t tcpRelay) Port() int    { return t.f.Addr().Port }
func (t tcpRelay) Close() error { return t.f.Close() }

func relayer(n *netStack) network.Relayer {
	return func(listen, target string) (network.Relay, error) {
		f, err := portfwd.Listen(listen, target, n.log.With("component", "forward"))
		if err != nil {
			return nil, err
		}
		return tcpRelay{f}, nil
	}
}
