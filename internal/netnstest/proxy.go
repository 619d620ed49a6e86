package netnstest

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
)

// ServeProxy serves a plain HTTP forward proxy on 127.0.0.1 inside the
// named network namespace ns (made by Named), dialing out from the test's
// own namespace, until the test ends, and returns its address. A Named
// namespace has no route out: programs in it that honour http_proxy (apt,
// mmdebstrap) reach a mirror through this proxy. It forwards plain http
// only (no CONNECT).
func ServeProxy(tb testing.TB, ns string) string {
	tb.Helper()
	var ln net.Listener
	err := Open(tb, ns).Do(func() error {
		var err error
		ln, err = net.Listen("tcp", "127.0.0.1:0")
		return err
	})
	if err != nil {
		tb.Fatalf("listen in %s: %v", ns, err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(forward)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	tb.Cleanup(func() {
		_ = srv.Close()
		<-done
	})
	return fmt.Sprint(ln.Addr())
}

// forward sends a proxied plain-http request on and copies the answer
// back.
func forward(rw http.ResponseWriter, r *http.Request) {
	if r.URL.Scheme != "http" || r.URL.Host == "" {
		http.Error(rw, "this proxy forwards plain http only", http.StatusBadRequest)
		return
	}
	out, err := http.NewRequestWithContext(r.Context(), r.Method, r.URL.String(), r.Body)
	if err != nil {
		http.Error(rw, err.Error(), http.StatusBadRequest)
		return
	}
	for k, v := range r.Header {
		if k != "Proxy-Connection" && k != "Connection" {
			out.Header[k] = v
		}
	}
	resp, err := http.DefaultTransport.RoundTrip(out)
	if err != nil {
		http.Error(rw, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	for k, v := range resp.Header {
		rw.Header()[k] = v
	}
	rw.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(rw, resp.Body)
}
