package daemon

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"banger/internal/api"
	"banger/internal/errdefs"
)

// shortTimeouts makes a daemon's body and idle timeouts short enough for
// a test to outlast them several times.
func shortTimeouts(body, idle time.Duration) func(td *testDaemon, ln net.Listener) {
	return func(td *testDaemon, ln net.Listener) {
		td.d.opts.BodyTimeout = body
		td.d.opts.IdleTimeout = idle
	}
}

// TestTrickledBodyIsCutOff: a client that sends its body one byte a second
// once kept its connection (and a daemon goroutine) for as long as it
// liked. It is now answered invalid_argument and disconnected when the
// body timeout passes, long before it would have finished.
func TestTrickledBodyIsCutOff(t *testing.T) {
	td := startDaemon(t, daemonOpts{beforeServe: shortTimeouts(2*time.Second, time.Minute)})
	const bodyLen = 120 // two minutes at a byte a second
	conn, err := net.Dial("unix", td.layout.Socket())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	head := "POST /v1/vms HTTP/1.1\r\nHost: bangerd\r\nContent-Type: application/json\r\nContent-Length: " +
		strconv.Itoa(bodyLen) + "\r\n\r\n{"
	if _, err := io.WriteString(conn, head); err != nil {
		t.Fatal(err)
	}
	type answer struct {
		resp *http.Response
		body []byte
		err  error
	}
	answered := make(chan answer, 1)
	go func() {
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			answered <- answer{err: err}
			return
		}
		body, err := io.ReadAll(resp.Body) // to EOF: the server closes the connection
		answered <- answer{resp, body, err}
	}()
	sent := 1
	var a answer
trickle:
	for ; sent < bodyLen; sent++ {
		select {
		case a = <-answered:
			break trickle
		case <-time.After(time.Second):
		}
		if _, err := conn.Write([]byte(" ")); err != nil {
			a = <-answered // the server hung up; its answer is already there
			break
		}
	}
	if sent >= bodyLen {
		t.Fatalf("the daemon waited for the whole trickled body (%d bytes)", sent)
	}
	if a.err != nil {
		t.Fatalf("read the answer: %v", a.err)
	}
	td.checkAPIError(a.resp, a.body, errdefs.InvalidArgument)
	if !strings.Contains(string(a.body), "did not arrive within 2s") {
		t.Errorf("answer %s does not say the body was too slow", a.body)
	}
	t.Logf("cut off after %d of %d bytes", sent, bodyLen)
}

// TestStreamOutlivesTimeouts: the events stream stays open for many times
// the body and idle timeouts and still delivers, and a request with a body
// sent at once is unaffected.
func TestStreamOutlivesTimeouts(t *testing.T) {
	td := startDaemon(t, daemonOpts{beforeServe: shortTimeouts(500*time.Millisecond, 500*time.Millisecond)})
	img := td.registerImage("base")
	resp := td.open("GET", "/v1/events", "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v1/events: status %d", resp.StatusCode)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	events := startDrain(&wg, resp.Body)
	defer resp.Body.Close()

	time.Sleep(3 * time.Second) // six body and idle timeouts
	select {
	case <-events.done:
		t.Fatalf("the events stream ended after the timeouts: %v", events.err)
	default:
	}
	r, body := td.do("POST", "/v1/vms", smallVM("late", img.Name, false))
	if r.StatusCode != http.StatusCreated {
		t.Fatalf("create: status %d: %s", r.StatusCode, body)
	}
	line := events.waitFor(t, 30*time.Second, func(l string) bool { return strings.Contains(l, `"late"`) })
	var ev api.Event
	if err := json.Unmarshal([]byte(line), &ev); err != nil || ev.Target != "late" {
		t.Errorf("event %q: %v", line, err)
	}
}

// TestIdleConnectionIsClosed: a kept-alive connection that sends nothing is
// closed by the daemon after the idle timeout.
func TestIdleConnectionIsClosed(t *testing.T) {
	td := startDaemon(t, daemonOpts{beforeServe: shortTimeouts(time.Minute, time.Second)})
	conn, err := net.Dial("unix", td.layout.Socket())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET /v1/vms HTTP/1.1\r\nHost: bangerd\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	rd := bufio.NewReader(conn)
	resp, err := http.ReadResponse(rd, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	// Now idle: the next read ends when the daemon closes the connection.
	// The deadline is a hang detector, far above the idle timeout.
	_ = conn.SetReadDeadline(time.Now().Add(60 * time.Second))
	_, err = rd.ReadByte()
	if !errors.Is(err, io.EOF) {
		t.Fatalf("read on an idle connection = %v, want EOF (closed by the daemon)", err)
	}
}
