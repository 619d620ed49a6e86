package daemon

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"banger/internal/api"
	"banger/internal/errdefs"
)

// defaultTCPWait is how long a guest port is waited for by default: right
// after vm run -d the guest's sshd may still be starting.
const defaultTCPWait = 2 * time.Minute

// sshInfo answers GET /v1/ssh, making banger's key on first use.
func (d *Daemon) sshInfo(w http.ResponseWriter, r *http.Request) {
	if _, err := d.ssh.AuthorizedKey(); err != nil {
		d.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, api.SSHInfo{
		IdentityFile:   d.ssh.KeyPath(),
		KnownHostsFile: d.ssh.KnownHostsPath(),
		Domain:         d.ssh.Domain(),
	})
}

// tcpVM relays a byte stream to a TCP port on the guest's loopback
// (POST /v1/vms/{ref}/tcp?port=N&wait=D with Upgrade: banger-tcp), through
// the guest agent: it works for VMs without a network. The VM and the
// port are waited for up to wait; after the 101 answer the connection
// carries the port's bytes both ways.
func (d *Daemon) tcpVM(w http.ResponseWriter, r *http.Request) {
	if !strings.EqualFold(r.Header.Get("Upgrade"), api.TCPUpgrade) {
		d.writeError(w, r, errdefs.InvalidArgumentf("tcp needs the headers Connection: Upgrade and Upgrade: %s", api.TCPUpgrade))
		return
	}
	q := r.URL.Query()
	port, err := strconv.Atoi(q.Get("port"))
	if err != nil || port < 1 || port > 65535 {
		d.writeError(w, r, errdefs.InvalidArgumentf("port=%q: must be a TCP port from 1 to 65535", q.Get("port")))
		return
	}
	wait := defaultTCPWait
	if s := q.Get("wait"); s != "" {
		v, err := time.ParseDuration(s)
		if err != nil || v < 0 || v > maxWait {
			d.writeError(w, r, errdefs.InvalidArgumentf("wait=%q: must be a duration from 0s to %v, e.g. 90s", s, maxWait))
			return
		}
		wait = v
	}
	ctx, cancel := d.streamContext(r)
	defer cancel()
	guest, err := d.vms.DialGuest(ctx, r.PathValue("ref"), port, wait)
	if err != nil {
		d.writeError(w, r, err)
		return
	}
	defer guest.Close()
	if d.relayUpgraded(ctx, w, r, api.TCPUpgrade, guest) {
		d.log.Info("tcp relay ended", "op_id", opIDFrom(r.Context()), "vm", r.PathValue("ref"), "port", port)
	}
}
