package daemon

import (
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
	conn, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		d.writeError(w, r, errdefs.Internalf("take over the connection for exec: %w", err))
		return
	}
	defer conn.Close()
	opID := opIDFrom(r.Context())
	if _, err := io.WriteString(conn, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: "+
		proto.ExecUpgrade+"\r\n"+"Banger-Op-Id: "+opID+"\r\n\r\n"); err != nil {
		return
	}
	// Relay both ways; when either side ends, close both so the other
	// copy returns too.
	var once sync.Once
	closeBoth := func() { once.Do(func() { conn.Close(); guest.Close() }) }
	stop := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			closeBoth()
		case <-stop:
		}
	}()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, _ = io.Copy(guest, buf.Reader) // what the client sends after the request
		closeBoth()
	}()
	_, _ = io.Copy(conn, guest)
	closeBoth()
	close(stop)
	wg.Wait()
	d.log.Info("exec ended", "op_id", opID, "vm", r.PathValue("ref"))
}
