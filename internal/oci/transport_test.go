package oci

import (
	"net/http"
	"testing"

	"banger/internal/errdefs"
)

// recordingTransport answers every request with 200 and records the URLs
// it was asked for; nothing goes on the network.
type recordingTransport struct{ urls []string }

func (r *recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	r.urls = append(r.urls, req.URL.String())
	return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody, Request: req}, nil
}

// TestHTTPSOnly: plain HTTP reaches only registries on loopback; HTTPS
// goes anywhere.
func TestHTTPSOnly(t *testing.T) {
	for url, allowed := range map[string]bool{
		"http://127.0.0.1:5000/v2/":   true,
		"http://localhost:5000/v2/":   true,
		"http://[::1]:5000/v2/":       true,
		"https://10.1.2.3:5000/v2/":   true,
		"https://ghcr.io/v2/":         true,
		"http://10.1.2.3:5000/v2/":    false,
		"http://192.168.1.9/v2/":      false,
		"http://registry.example/v2/": false,
	} {
		rec := &recordingTransport{}
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		resp, err := httpsOnly{rec}.RoundTrip(req)
		if resp != nil {
			resp.Body.Close()
		}
		switch {
		case allowed && (err != nil || len(rec.urls) != 1):
			t.Errorf("%s: %v, %d requests sent; want it sent", url, err, len(rec.urls))
		case !allowed && (!errdefs.Is(err, errdefs.FailedPrecondition) || len(rec.urls) != 0):
			t.Errorf("%s: %v, %d requests sent; want failed_precondition and nothing sent", url, err, len(rec.urls))
		}
	}
}
