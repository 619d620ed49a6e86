package daemon

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"banger/internal/errdefs"
	"banger/internal/peercred"
)

// Listen creates the daemon socket at path, mode 0600 from birth. The
// process umask must already be 077 (bangerd sets it first thing); Listen
// checks the result rather than trusting it. A stale socket that nobody
// answers on is replaced; a live one means another daemon runs.
func Listen(path string) (net.Listener, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, errdefs.FailedPreconditionf("%s exists and is not a socket: remove it and start bangerd again", path)
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			_ = c.Close()
			return nil, errdefs.FailedPreconditionf("another bangerd is already serving %s: stop it first (banger system info shows its pid)", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("remove stale socket: %w", err)
		}
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(true)
	fi, err := os.Lstat(path)
	if err != nil {
		_ = ln.Close()
		return nil, err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		_ = ln.Close()
		return nil, fmt.Errorf("socket %s was created with mode %v: bangerd must run with umask 077", path, fi.Mode().Perm())
	}
	// Born private (0700 under umask 077); 0600 is the documented mode.
	if err := os.Chmod(path, 0o600); err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("set mode of %s: %w", path, err)
	}
	return ln, nil
}

// peerListener accepts only connections from the owner uid or root,
// checked with SO_PEERCRED. Others are closed at once and logged.
type peerListener struct {
	net.Listener
	owner  int
	reject func(uid int, err error)
}

func (l *peerListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		cred, err := peercred.Of(c)
		if err == nil && (cred.UID == l.owner || cred.UID == 0) {
			return c, nil
		}
		if err != nil {
			cred.UID = -1
		}
		if l.reject != nil {
			l.reject(cred.UID, err)
		}
		_ = c.Close()
	}
}

// routeErrors turns the mux's plain-text 404 and 405 answers into the API's
// JSON errors.
func (d *Daemon) routeErrors(mux *routeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, pattern := mux.Handler(r)
		if pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		rec := &statusCatcher{header: http.Header{}}
		h.ServeHTTP(rec, r)
		if rec.status == http.StatusMethodNotAllowed {
			d.writeError(w, r, methodNotAllowed(rec.header.Get("Allow")))
			return
		}
		d.notFound(w, r)
	})
}

// statusCatcher records the status a handler writes and discards the body.
type statusCatcher struct {
	header http.Header
	status int
}

func (s *statusCatcher) Header() http.Header         { return s.header }
func (s *statusCatcher) Write(b []byte) (int, error) { return len(b), nil }
func (s *statusCatcher) WriteHeader(code int)        { s.status = code }

// opIDKey is the context key of the request's operation id.
type opIDKey struct{}

func opIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(opIDKey{}).(string)
	return id
}
