package agent

import (
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"banger/internal/agent/proto"
	"banger/internal/errdefs"
)

// tcpDialTimeout bounds connecting to a guest port on loopback.
const tcpDialTimeout = 5 * time.Second

// handleTCP connects to 127.0.0.1:port in the guest and, once connected,
// switches the stream to raw bytes relayed both ways (POST /v1/tcp?port=N
// with Upgrade: banger-tcp). A port nothing listens on is answered with
// an unavailable error before switching, so the host can retry.
func (h *handler) handleTCP(w http.ResponseWriter, r *http.Request) {
	if !strings.EqualFold(r.Header.Get("Upgrade"), proto.TCPUpgrade) {
		writeError(w, errdefs.InvalidArgumentf("POST /v1/tcp must send 'Connection: Upgrade' and 'Upgrade: %s'", proto.TCPUpgrade))
		return
	}
	port, err := strconv.Atoi(r.URL.Query().Get("port"))
	if err != nil || port < 1 || port > 65535 {
		writeError(w, errdefs.InvalidArgumentf("port=%q: must be a TCP port from 1 to 65535", r.URL.Query().Get("port")))
		return
	}
	d := net.Dialer{Timeout: tcpDialTimeout}
	guest, err := d.DialContext(r.Context(), "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		writeError(w, errdefs.Unavailablef("connect to port %d in the guest: %v", port, err))
		return
	}
	defer guest.Close()
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		writeError(w, errdefs.Internalf("take over the tcp connection: %w", err))
		return
	}
	defer conn.Close()
	brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: " + proto.TCPUpgrade + "\r\n\r\n")
	if err := brw.Flush(); err != nil {
		return
	}
	splice(conn, brw.Reader, guest)
}

// splice copies host→guest (reading from rd, which holds what the host
// sent after the request) and guest→host until either side ends, then
// closes both so the other copy returns too.
func splice(host net.Conn, rd io.Reader, guest net.Conn) {
	var once sync.Once
	closeBoth := func() { once.Do(func() { host.Close(); guest.Close() }) }
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, _ = io.Copy(guest, rd)
		if tc, ok := guest.(*net.TCPConn); ok {
			// The host is done sending; the guest service may still answer.
			_ = tc.CloseWrite()
			return
		}
		closeBoth()
	}()
	_, _ = io.Copy(host, guest)
	closeBoth()
	wg.Wait()
}
