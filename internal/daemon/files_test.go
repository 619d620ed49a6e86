package daemon

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"banger/internal/api"
	"banger/internal/errdefs"
)

// TestFilesRouteErrors: the copy routes answer a missing VM, a stopped VM
// and a bad path with the documented kinds, and the upload route's body
// is not held to the 1 MiB limit of the other routes (readBody lets it
// through to the route, which answers for the VM).
func TestFilesRouteErrors(t *testing.T) {
	td := startDaemon(t, daemonOpts{})
	img := td.registerImage("base")
	if resp, body := td.do("POST", "/v1/vms", smallVM("idle", img.Name, false)); resp.StatusCode != http.StatusCreated {
		t.Fatalf("create: status %d: %s", resp.StatusCode, body)
	}
	big := strings.Repeat("x", 2<<20)
	tests := []struct {
		name, method, path, body string
		want                     errdefs.Kind
		says                     string
	}{
		{"upload to a missing VM", "PUT", "/v1/vms/nope/files?path=/root", big, errdefs.NotFound, "nope"},
		{"upload to a stopped VM", "PUT", "/v1/vms/idle/files?path=/root", big, errdefs.FailedPrecondition, "banger vm start idle"},
		{"download from a stopped VM", "GET", "/v1/vms/idle/files?path=/etc/hostname", "", errdefs.FailedPrecondition, "banger vm start idle"},
		{"stat in a stopped VM", "GET", "/v1/vms/idle/stat?path=/root", "", errdefs.FailedPrecondition, "banger vm start idle"},
		{"download from a missing VM", "GET", "/v1/vms/nope/files?path=/root", "", errdefs.NotFound, "nope"},
		{"relative path", "GET", "/v1/vms/idle/files?path=etc", "", errdefs.InvalidArgument, "absolute"},
		{"no path", "PUT", "/v1/vms/idle/files", "x", errdefs.InvalidArgument, "path is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			td := td.sub(t)
			resp, body := td.do(tt.method, tt.path, tt.body)
			e := td.checkAPIError(resp, body, tt.want)
			if !strings.Contains(e.Message, tt.says) {
				t.Errorf("message %q does not say %q", e.Message, tt.says)
			}
		})
	}
}

// TestStallGuard: a streamed body that keeps coming is read for longer
// than the timeout; one that stops for longer than the timeout is cut off
// with a deadline error.
func TestStallGuard(t *testing.T) {
	const timeout = 300 * time.Millisecond
	got := make(chan error, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g := &stallGuard{r: r.Body, rc: http.NewResponseController(w), timeout: timeout}
		_, err := io.Copy(io.Discard, g)
		g.clear()
		got <- g.err
		if err == nil {
			w.WriteHeader(http.StatusNoContent)
		}
	}))
	defer srv.Close()
	send := func(pause time.Duration, pieces int) error {
		pr, pw := io.Pipe()
		go func() {
			for i := 0; i < pieces; i++ {
				if _, err := pw.Write([]byte("data")); err != nil {
					return
				}
				time.Sleep(pause)
			}
			pw.Close()
		}()
		resp, err := http.Post(srv.URL, "application/x-tar", pr)
		if err == nil {
			resp.Body.Close()
		}
		pr.Close()
		return <-got
	}
	// 10 pieces 100 ms apart: a second in all, over three timeouts.
	if err := send(100*time.Millisecond, 10); err != nil {
		t.Errorf("a body that kept coming was cut off: %v", err)
	}
	if err := send(2*timeout, 3); err == nil || !strings.Contains(err.Error(), "timeout") {
		t.Errorf("a stalled body was read to the end (err %v), want a deadline error", err)
	}
}

// TestRefusedUploadIsDrained: an upload refused before its body was read
// is read to its end before the answer, so a client still writing its body
// (slow, or on a loaded host) finishes and reads the refusal instead of
// failing with a broken pipe. This caller stops writing for longer than
// net/http's own close delay (500 ms) part-way through its body.
func TestRefusedUploadIsDrained(t *testing.T) {
	td := startDaemon(t, daemonOpts{})
	const size = 16 << 20
	c, err := net.Dial("unix", td.layout.Socket())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "PUT /v1/vms/nope/files?path=/root HTTP/1.1\r\nHost: bangerd\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n", api.TarType, size)
	chunk := make([]byte, 64<<10)
	for sent := 0; sent < size; sent += len(chunk) {
		if sent == 1<<20 {
			time.Sleep(time.Second)
		}
		_ = c.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write(chunk); err != nil {
			t.Fatalf("write the body (%d of %d bytes sent): %v", sent, size, err)
		}
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("read the answer: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("status %d, want 404", resp.StatusCode)
	}
}
