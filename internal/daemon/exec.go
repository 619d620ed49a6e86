package daemon

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"banger/internal/agent/proto"
	"banger/internal/errdefs"
)

// maxWait bounds how long a client may ask to wait for a guest.
const maxWait = 30 * time.Minute

// waitVM waits until the VM's guest agent answers.
func (d *Daemon) waitVM(w http.ResponseWriter, r *http.Request) {
	timeout := 2 * time.Minute
	if t := r.URL.Query().Get("timeout"); t != "" {
		v, err := time.ParseDuration(t)
		if err != nil || v <= 0 || v > maxWait {
			d.writeError(w, r, errdefs.InvalidArgumentf("timeout=%q: must be a duration from 1s to %v, e.g. 90s", t, maxWait))
			return
		}
		timeout = v
	}
	info, err := d.vms.WaitReady(r.Context(), r.PathValue("ref"), timeout)
	if err != nil {
		d.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, apiAgentInfo(info))
}

// execVM runs a command in the guest. The request must ask to upgrade to
// the exec protocol; once the guest agent has started the command, the
// connection carries the agent's exec frames (package agent/proto) both
// ways, relayed untouched, until the command's exit frame.
func (d *Daemon) execVM(w http.ResponseWriter, r *http.Request) {
	if !strings.EqualFold(r.Header.Get("Upgrade"), proto.ExecUpgrade) {
		d.writeError(w, r, errdefs.InvalidArgumentf("exec needs the headers Connection: Upgrade and Upgrade: %s", proto.ExecUpgrade))
		return
	}
	var req proto.ExecRequest
	if err := decode(w, r, &req); err != nil {
		d.writeError(w, r, err)
		return
	}
	ctx, cancel := d.streamContext(r)
	defer cancel()
	imageDefaults := false
	switch v := r.URL.Query().Get("image_defaults"); v {
	case "", "0", "false":
	case "1", "true":
		imageDefaults = true
	default:
		d.writeError(w, r, errdefs.InvalidArgumentf("image_defaults=%q: want 1 or 0", v))
		return
	}
	guest, err := d.vms.ExecStream(ctx, r.PathValue("ref"), req, imageDefaults)
	if err != nil {
		d.writeError(w, r, err)
		return
	}
	defer guest.Close()
	if d.relayUpgraded(ctx, w, r, proto.ExecUpgrade, guest) {
		d.log.Info("exec ended", "op_id", opIDFrom(r.Context()), "vm", r.PathValue("ref"))
	}
}

// relayUpgraded takes over the connection of r, answers 101 Switching
// Protocols to protocol, and relays bytes both ways between the client and
// guest until either side ends or ctx does; then both are closed. It
// reports whether the relay ran (a failed takeover has been answered).
func (d *Daemon) relayUpgraded(ctx context.Context, w http.ResponseWriter, r *http.Request, protocol string, guest io.ReadWriteCloser) bool {
	conn, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		d.writeError(w, r, errdefs.Internalf("take over the connection for %s: %w", protocol, err))
		return false
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: "+
		protocol+"\r\nBanger-Op-Id: "+opIDFrom(r.Context())+"\r\n\r\n"); err != nil {
		return false
	}
	// When either side ends, close both so the other copy returns too.
	var once sync.Once
	closeBoth := func() { once.Do(func() { conn.Close(); guest.Close() }) }
	stop := context.AfterFunc(ctx, closeBoth)
	defer stop()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, _ = io.Copy(guest, buf.Reader) // what the client sends after the request
		closeBoth()
	}()
	_, _ = io.Copy(conn, guest)
	closeBoth()
	wg.Wait()
	return true
}
