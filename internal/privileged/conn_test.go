package privileged

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"banger/internal/errdefs"
)

// exchange sends raw on a fresh connection, closes its sending side, and
// returns everything the helper sent back before closing it.
func exchange(t *testing.T, socket string, raw []byte) string {
	t.Helper()
	c, err := net.Dial("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	werr := make(chan error, 1)
	go func() { // a large body may still be going out when the helper answers
		_, err := c.Write(raw)
		if err == nil {
			err = c.(*net.UnixConn).CloseWrite()
		}
		werr <- err
	}()
	got, err := io.ReadAll(c)
	if err != nil && !errors.Is(err, net.ErrClosed) && !strings.Contains(err.Error(), "connection reset") {
		t.Fatalf("read the answer: %v", err)
	}
	<-werr
	return string(got)
}

// TestBadRequests: malformed requests get a clear error, the connection
// is closed, and the helper keeps serving.
func TestBadRequests(t *testing.T) {
	host := newFakeHost()
	hp := startHelper(t, selfPolicy(), host, requestTimeout)
	tests := []struct {
		name string
		raw  string
		want string // in the error message
	}{
		{"garbage", "hello\n", "malformed request"},
		{"truncated", `{"method":"Forwarding"`, "malformed request"},
		{"not an object", `["Forwarding"]`, "malformed request"},
		{"unknown method", `{"method":"Exec","args":{"cmd":"sh"}}`, `unknown method "Exec"`},
		{"unknown field", `{"method":"Forwarding","sudo":true}`, "unknown field"},
		{"no method", `{"args":{}}`, "names no method"},
		{"oversized", `{"method":"ApplyRules","args":{"spec":{"bridge":"` + strings.Repeat("a", 2<<20) + `"}}}`, "larger than 1048576 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := exchange(t, hp.socket, []byte(tt.raw))
			var r reply
			if err := json.Unmarshal([]byte(got), &r); err != nil {
				t.Fatalf("answer %q: %v", got, err)
			}
			if r.Error == nil || r.Error.Code != string(errdefs.InvalidArgument) || !strings.Contains(r.Error.Message, tt.want) {
				t.Errorf("answer %s, want an invalid_argument error saying %q", got, tt.want)
			}
			if on, err := (Client{Socket: hp.socket}).Forwarding(); err != nil || on {
				t.Errorf("after a bad request: Forwarding() = %v, %v; want false, nil", on, err)
			}
		})
	}
	if got := host.Calls(); len(got) != len(tests) {
		t.Errorf("host calls %q: bad requests must not reach it", got)
	}
}

// TestOneRequestPerConnection: a second request on the same connection is
// never read.
func TestOneRequestPerConnection(t *testing.T) {
	host := newFakeHost()
	hp := startHelper(t, selfPolicy(), host, requestTimeout)
	got := exchange(t, hp.socket, []byte(`{"method":"SetForwarding","args":{"on":true}}`+"\n"+`{"method":"SetForwarding","args":{"on":false}}`+"\n"))
	if want := `{"result":null}` + "\n"; got != want {
		t.Errorf("answer %q, want %q", got, want)
	}
	if diff := cmp.Diff([]string{"SetForwarding true"}, host.Calls()); diff != "" {
		t.Errorf("host calls (-want +got):\n%s", diff)
	}
}

// TestSilentConnection: a caller that sends nothing is dropped after the
// request timeout, and others are served meanwhile.
func TestSilentConnection(t *testing.T) {
	hp := startHelper(t, selfPolicy(), newFakeHost(), 300*time.Millisecond)
	c, err := net.Dial("unix", hp.socket)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := (Client{Socket: hp.socket}).Forwarding(); err != nil {
		t.Fatalf("another caller while one is silent: %v", err)
	}
	start := time.Now()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, _ := io.ReadAll(c)
	if waited := time.Since(start); waited > 5*time.Second {
		t.Errorf("silent connection dropped after %s", waited)
	}
	if !strings.Contains(string(got), `"code":"invalid_argument"`) || !strings.Contains(string(got), "no complete request within 300ms") {
		t.Errorf("answer to a silent caller %q", got)
	}
}

// TestStop: cancelling Serve's context ends it promptly even with a
// silent connection open, and removes the socket.
func TestStop(t *testing.T) {
	socket := filepath.Join(t.TempDir(), "helper.sock")
	ln, err := Listen(socket, os.Geteuid())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ln, selfPolicy(), newFakeHost(), nil) }()
	c, err := net.Dial("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := (Client{Socket: socket}).Forwarding(); err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve after cancel: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return within 5s of cancel")
	}
	if _, err := (Client{Socket: socket}).Forwarding(); errdefs.KindOf(err) != errdefs.Unavailable {
		t.Errorf("call after stop: %v, want an unavailable error", err)
	}
}

// TestServeRefusesBadPolicy: nothing is served under an invalid policy.
func TestServeRefusesBadPolicy(t *testing.T) {
	ln, err := Listen(filepath.Join(t.TempDir(), "helper.sock"), os.Geteuid())
	if err != nil {
		t.Fatal(err)
	}
	err = Serve(context.Background(), ln, Policy{UID: 1000, Bridge: "eth 0"}, newFakeHost(), nil)
	if errdefs.KindOf(err) != errdefs.InvalidArgument {
		t.Errorf("Serve with bridge %q: %v, want invalid_argument", "eth 0", err)
	}
}
