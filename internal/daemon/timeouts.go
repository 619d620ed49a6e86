package daemon

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"os"
	"time"

	"banger/internal/api"
	"banger/internal/errdefs"
)

// Connection timeouts. A client that stalls cannot keep a connection, a
// goroutine and a buffer of the daemon's for ever.
const (
	// headerTimeout bounds reading a request's headers.
	headerTimeout = 10 * time.Second
	// DefaultBodyTimeout bounds reading a request's body, from the end of
	// its headers. A body is at most 1 MiB from a local client: this is
	// generous.
	DefaultBodyTimeout = 30 * time.Second
	// DefaultIdleTimeout closes a kept-alive connection that sends no new
	// request.
	DefaultIdleTimeout = 2 * time.Minute
)

// bodyTimeout and idleTimeout are the configured timeouts or their
// defaults.
func (d *Daemon) bodyTimeout() time.Duration {
	if d.opts.BodyTimeout > 0 {
		return d.opts.BodyTimeout
	}
	return DefaultBodyTimeout
}

func (d *Daemon) idleTimeout() time.Duration {
	if d.opts.IdleTimeout > 0 {
		return d.opts.IdleTimeout
	}
	return DefaultIdleTimeout
}

// uploadRoute and workspaceRoute are the routes whose body is a stream
// (a tar of any size, for vm cp and for a workspace): readBody passes it on
// unread, behind a stallGuard, instead of reading it whole.
const (
	uploadRoute    = "PUT " + api.Version + "/vms/{ref}/files"
	workspaceRoute = "PUT " + api.Version + "/vms/{ref}/workspace"
)

// streamedBody says whether the route pattern takes a streamed body.
func streamedBody(pattern string) bool { return pattern == uploadRoute || pattern == workspaceRoute }

// readBody reads the whole request body, at most maxBody bytes, before the
// route runs, under a read deadline of bodyTimeout: a client that trickles
// its body is answered invalid_argument and disconnected when the deadline
// passes. The deadline is then cleared through http.ResponseController, so
// what follows may take as long as it needs: long operations, and the
// streaming routes (exec, followed logs, events, build progress) that keep
// their connections open on purpose. Requests without a body get no
// deadline at all. The exceptions are the streamed bodies (streamedBody,
// matched by the mux's pattern): they are passed on unread behind a
// stallGuard, which cuts off a client that stalls for bodyTimeout but not
// one that keeps sending.
//
// http.Server's ReadTimeout is not used for this: a route that does not
// read its body would keep it armed while it runs, and a client cut off by
// it gets a closed connection with no word of why.
func (d *Daemon) readBody(mux *routeMux, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		rc := http.NewResponseController(w)
		if _, pattern := mux.Handler(r); streamedBody(pattern) {
			g := &stallGuard{r: r.Body, rc: rc, timeout: d.bodyTimeout()}
			r.Body = g
			next.ServeHTTP(w, r)
			g.clear()
			return
		}
		_ = rc.SetReadDeadline(time.Now().Add(d.bodyTimeout()))
		data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
		_ = rc.SetReadDeadline(time.Time{})
		if err != nil {
			w.Header().Set("Connection", "close")
			d.writeError(w, r, bodyError(err, d.bodyTimeout()))
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(data))
		next.ServeHTTP(w, r)
	})
}

// bodyError explains a failure to read a request body.
func bodyError(err error, timeout time.Duration) error {
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return errdefs.InvalidArgumentf("request body is larger than %d bytes: send at most 1 MiB", maxBody)
	case errors.Is(err, os.ErrDeadlineExceeded):
		return errdefs.InvalidArgumentf("request body did not arrive within %v: send the whole body at once", timeout)
	}
	return errdefs.InvalidArgumentf("read the request body: %v: send the whole body at once", err)
}

// stallGuard is a streamed request body under a read deadline of timeout
// armed before every read, so a client may send for as long as it keeps
// sending; it remembers the first read error, for the route's answer.
type stallGuard struct {
	r       io.ReadCloser
	rc      *http.ResponseController
	timeout time.Duration
	err     error
}

func (g *stallGuard) Read(p []byte) (int, error) {
	_ = g.rc.SetReadDeadline(time.Now().Add(g.timeout))
	n, err := g.r.Read(p)
	if err != nil && err != io.EOF && g.err == nil {
		g.err = err
	}
	return n, err
}

func (g *stallGuard) Close() error { return g.r.Close() }

// clear removes the deadline once the route is done with the body.
func (g *stallGuard) clear() { _ = g.rc.SetReadDeadline(time.Time{}) }

// bodyFailed returns why the streamed body of r could not be read, or nil:
// a stalled or broken client, rather than what the guest made of it.
// refuseStream answers a streamed upload that failed before its body was
// read to the end. The rest of the body is read and dropped first (at most
// drainLimit bytes, each read within the body timeout), then the error
// goes out and the connection closes: a client still writing its body
// when the server closes gets a broken pipe instead of the answer, and
// would tell its user the daemon went away rather than why it refused.
func (d *Daemon) refuseStream(w http.ResponseWriter, r *http.Request, err error) {
	if d.bodyFailed(r) == nil {
		_, _ = io.CopyN(io.Discard, r.Body, drainLimit)
	}
	if berr := d.bodyFailed(r); berr != nil {
		err = berr
	}
	w.Header().Set("Connection", "close")
	d.writeError(w, r, err)
}

// drainLimit bounds what refuseStream reads of a refused upload.
const drainLimit = 256 << 20

func (d *Daemon) bodyFailed(r *http.Request) error {
	if g, ok := r.Body.(*stallGuard); ok && g.err != nil {
		return bodyError(g.err, d.bodyTimeout())
	}
	return nil
}
