package firecracker

import (
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// call is one request apiServer received.
type call struct {
	Method string
	Path   string
	Body   string
}

// apiServer is a small in-process stand-in for the Firecracker API used by
// the client unit tests: it records every request and answers each with
// the reply configured for "METHOD /path", or 204.
type apiServer struct {
	mu      sync.Mutex
	calls   []call
	replies map[string]reply
	socket  string
}

type reply struct {
	status int
	body   string
}

// newAPIServer serves on a fresh unix socket until the test ends.
func newAPIServer(t *testing.T, replies map[string]reply) *apiServer {
	t.Helper()
	s := &apiServer{replies: replies}
	s.socket = serveUnix(t, s)
	return s
}

// serveUnix serves h over HTTP on a unix socket in a fresh short directory
// until the test ends, and returns the socket path.
func serveUnix(t *testing.T, h http.Handler) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "fc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	socket := filepath.Join(dir, "api.sock")
	ln, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("api server: %v", err)
		}
	})
	return socket
}

func (s *apiServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	key := r.Method + " " + r.URL.EscapedPath()
	s.mu.Lock()
	s.calls = append(s.calls, call{Method: r.Method, Path: r.URL.EscapedPath(), Body: string(b)})
	rep, ok := s.replies[key]
	s.mu.Unlock()
	if !ok {
		rep = reply{status: http.StatusNoContent}
	}
	if rep.body != "" {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(rep.status)
	io.WriteString(w, rep.body)
}

func (s *apiServer) received() []call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]call(nil), s.calls...)
}
