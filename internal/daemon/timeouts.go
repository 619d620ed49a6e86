package daemon

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
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

// readBody reads the whole request body, at most maxBody bytes, before the
// route runs, under a read deadline of bodyTimeout: a client that trickles
// its body is answered invalid_argument and disconnected when the deadline
// passes. The deadline is then cleared through http.ResponseController, so
// what follows may take as long as it needs: long operations, and the
// streaming routes (exec, followed logs, events, build progress) that keep
// their connections open on purpose. Requests without a body get no
// deadline at all.
//
// http.Server's ReadTimeout is not used for this: a route that does not
// read its body would keep it armed while it runs, and a client cut off by
// it gets a closed connection with no word of why.
func (d *Daemon) readBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		rc := http.NewResponseController(w)
		if isStreamingUpload(r) {
			r.Body = &idleBoundBody{body: r.Body, rc: rc, idle: d.bodyTimeout()}
			next.ServeHTTP(w, r)
			_ = rc.SetReadDeadline(time.Time{})
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

// isStreamingUpload says whether r is one of the routes whose body is a
// stream of any length, not read whole: the workspace upload (PUT
// /v1/vms/{ref}/workspace). Its bounds are the agent's upload limit and
// idleBoundBody's deadline.
func isStreamingUpload(r *http.Request) bool {
	if r.Method != http.MethodPut {
		return false
	}
	rest, ok := strings.CutPrefix(r.URL.Path, api.Version+"/vms/")
	if !ok {
		return false
	}
	ref, ok := strings.CutSuffix(rest, "/workspace")
	return ok && ref != "" && !strings.Contains(ref, "/")
}

// idleBoundBody is a streamed request body under a read deadline renewed
// before every read: a client may send for as long as it keeps sending,
// but one that stalls for idle is cut off.
type idleBoundBody struct {
	body io.ReadCloser
	rc   *http.ResponseController
	idle time.Duration
}

func (b *idleBoundBody) Read(p []byte) (int, error) {
	_ = b.rc.SetReadDeadline(time.Now().Add(b.idle))
	n, err := b.body.Read(p)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		err = errdefs.InvalidArgumentf("the upload stalled for %v: send the stream without pauses", b.idle)
	}
	return n, err
}

func (b *idleBoundBody) Close() error { return b.body.Close() }
