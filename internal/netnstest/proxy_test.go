package netnstest

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestServeProxyReachesOutOfTheNamespace checks that a client inside a
// Named namespace, which cannot reach a server in the test's namespace
// directly, reaches it through ServeProxy, and that the proxy refuses
// what it does not forward.
func TestServeProxyReachesOutOfTheNamespace(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s %s", r.URL.Path, r.Header.Get("X-Probe"))
	}))
	defer srv.Close()
	ns := Named(t, "")
	proxy := ServeProxy(t, ns)

	// dial connects from inside ns; the socket stays there afterwards.
	dial := func(addr string) (net.Conn, error) {
		var c net.Conn
		err := Open(t, ns).Do(func() error {
			var err error
			c, err = net.Dial("tcp", addr)
			return err
		})
		return c, err
	}
	if c, err := dial(srv.Listener.Addr().String()); err == nil {
		c.Close()
		t.Fatalf("the server at %s is reachable from %s without the proxy: the test proves nothing", srv.Listener.Addr(), ns)
	}

	get := func(target string) (*http.Response, string) {
		t.Helper()
		c, err := dial(proxy)
		if err != nil {
			t.Fatalf("dial the proxy %s in %s: %v", proxy, ns, err)
		}
		defer c.Close()
		fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nX-Probe: p1\r\nConnection: close\r\n\r\n", target, srv.Listener.Addr())
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("read the proxy's answer: %v", err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, string(body)
	}
	resp, body := get(srv.URL + "/x")
	if resp.StatusCode != http.StatusOK || body != "hello /x p1" {
		t.Errorf("through the proxy: %s %q, want 200 %q", resp.Status, body, "hello /x p1")
	}
	resp, body = get("/x") // not a proxy request
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "plain http only") {
		t.Errorf("a request without a scheme: %s %q, want 400 saying plain http only", resp.Status, body)
	}
}
