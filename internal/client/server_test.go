package client

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"banger/internal/api"
)

// newServer serves h on a unix socket in a short temporary directory and
// returns a zero-value Client pointed at it. Both are closed when the test
// ends.
func newServer(t *testing.T, h http.Handler) *Client {
	t.Helper()
	dir, err := os.MkdirTemp("", "bgc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "bangerd.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatalf("listen on %s: %v", sock, err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return &Client{Socket: sock}
}

// writeError writes the API's error body with status.
func writeError(w http.ResponseWriter, status int, code, msg, opID string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set(api.OpIDHeader, opID)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(api.ErrorBody{Error: api.Error{Code: code, Message: msg, OpID: opID}})
}

// writeJSON writes v as a 200 JSON reply.
func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// streamLines writes each line of an NDJSON reply and flushes it.
func streamLines(w http.ResponseWriter, lines ...string) {
	w.Header().Set("Content-Type", api.NDJSON)
	w.WriteHeader(http.StatusOK)
	f := w.(http.Flusher)
	for _, l := range lines {
		_, _ = w.Write([]byte(l + "\n"))
		f.Flush()
	}
}

// eventLine encodes ev as one NDJSON line.
func eventLine(t *testing.T, ev api.Event) string {
	t.Helper()
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// hangUp closes the connection without an answer.
func hangUp(t *testing.T, w http.ResponseWriter) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err != nil {
		t.Errorf("hijack: %v", err)
		return
	}
	conn.Close()
}
