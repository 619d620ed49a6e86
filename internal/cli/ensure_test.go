package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"banger/internal/api"
	"banger/internal/client"
)

// fakeDaemon answers the calls ensureImage makes and records them. The
// kernel and image exist once built.
type fakeDaemon struct {
	mu      sync.Mutex
	calls   []string
	kernels map[string]bool
	images  map[string]bool
	// distro: the daemon can take the distribution's kernel package.
	distro bool
	pulls  []api.PullImageRequest
}

func (f *fakeDaemon) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, r.Method+" "+r.URL.Path)
	notFound := func() {
		w.WriteHeader(http.StatusNotFound)
		_ = json.NewEncoder(w).Encode(api.ErrorBody{Error: api.Error{Code: "not_found", Message: "no such thing"}})
	}
	result := func() {
		w.Header().Set("Content-Type", api.NDJSON)
		_ = json.NewEncoder(w).Encode(api.Event{Type: api.EventStep, Step: "work", Index: 1, Total: 1})
		_ = json.NewEncoder(w).Encode(api.Event{Type: api.EventResult, Result: json.RawMessage(`{}`)})
	}
	switch r.Method + " " + r.URL.Path {
	case "GET /v1/system/info":
		_ = json.NewEncoder(w).Encode(api.SystemInfo{DefaultImage: "default"})
	case "GET /v1/images/default", "GET /v1/images/other":
		if !f.images[r.URL.Path[len("/v1/images/"):]] {
			notFound()
			return
		}
		_ = json.NewEncoder(w).Encode(api.Image{Name: "default"})
	case "GET /v1/kernels/default":
		if !f.kernels["default"] {
			notFound()
			return
		}
		_ = json.NewEncoder(w).Encode(api.Kernel{Name: "default"})
	case "POST /v1/kernels/fetch":
		if !f.distro {
			w.Header().Set("Content-Type", api.NDJSON)
			_ = json.NewEncoder(w).Encode(api.Event{Type: api.EventError, Error: &api.Error{Code: "failed_precondition", Message: "apt does not know package linux-image-cloud-amd64"}})
			return
		}
		f.kernels["default"] = true
		result()
	case "POST /v1/kernels/build":
		f.kernels["default"] = true
		result()
	case "POST /v1/images/build":
		f.images["default"] = true
		result()
	case "POST /v1/images/pull":
		var req api.PullImageRequest
		_ = json.NewDecoder(r.Body).Decode(&req)
		f.pulls = append(f.pulls, req)
		w.Header().Set("Content-Type", api.NDJSON)
		_ = json.NewEncoder(w).Encode(api.Event{Type: api.EventStep, Step: "download layers", Index: 1, Total: 3})
		_ = json.NewEncoder(w).Encode(api.Event{Type: api.EventResult, Result: json.RawMessage(`{"name":"busy-1"}`)})
	default:
		notFound()
	}
}

func serveFake(t *testing.T, f *fakeDaemon) *client.Client {
	t.Helper()
	return serveFakeHandler(t, f)
}

// serveFakeHandler serves h on a fresh unix socket and returns a client.
func serveFakeHandler(t *testing.T, h http.Handler) *client.Client {
	t.Helper()
	dir, err := os.MkdirTemp("", "bgens")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "d.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return &client.Client{Socket: sock}
}

func TestEnsureImage(t *testing.T) {
	tests := []struct {
		name                     string
		image                    string
		kernel, existing, distro bool
		wantErr                  bool
		wantCalls                []string
	}{
		{"fresh machine takes the distro kernel then builds the image", "", false, false, true, false, []string{
			"GET /v1/system/info", "GET /v1/images/default", "GET /v1/kernels/default",
			"POST /v1/kernels/fetch", "POST /v1/images/build"}},
		{"fresh machine without a distro kernel builds one", "", false, false, false, false, []string{
			"GET /v1/system/info", "GET /v1/images/default", "GET /v1/kernels/default",
			"POST /v1/kernels/fetch", "POST /v1/kernels/build", "POST /v1/images/build"}},
		{"kernel present builds only the image", "default", true, false, true, false, []string{
			"GET /v1/system/info", "GET /v1/images/default", "GET /v1/kernels/default", "POST /v1/images/build"}},
		{"image present builds nothing", "", true, true, true, false, []string{
			"GET /v1/system/info", "GET /v1/images/default"}},
		{"another missing image is an error", "other", false, false, true, true, []string{
			"GET /v1/system/info", "GET /v1/images/other"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeDaemon{kernels: map[string]bool{"default": tc.kernel}, images: map[string]bool{"default": tc.existing}, distro: tc.distro}
			cl := serveFake(t, f)
			var stderr bytes.Buffer
			a := &app{env: Env{Stdout: &bytes.Buffer{}, Stderr: &stderr}}
			err := a.ensureImage(context.Background(), cl, tc.image)
			if (err != nil) != tc.wantErr {
				t.Fatalf("ensureImage = %v, want error %v", err, tc.wantErr)
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			if diff := cmp.Diff(tc.wantCalls, f.calls); diff != "" {
				t.Errorf("calls (-want +got):\n%s", diff)
			}
		})
	}
}

// TestEnsureImageRef: a registry reference is pulled on first use (the
// daemon answers with the image already pulled from it when there is
// one), and the VM boots the image the pull names.
func TestEnsureImageRef(t *testing.T) {
	f := &fakeDaemon{kernels: map[string]bool{}, images: map[string]bool{}}
	cl := serveFake(t, f)
	a := &app{env: Env{Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{}}}
	name, err := a.ensureImageName(context.Background(), cl, "127.0.0.1:5000/busy:1")
	if err != nil || name != "busy-1" {
		t.Fatalf("ensureImageName = %q, %v; want busy-1", name, err)
	}
	f.mu.Lock()
	pulls := f.pulls
	f.mu.Unlock()
	if diff := cmp.Diff([]api.PullImageRequest{{Ref: "127.0.0.1:5000/busy:1", IfMissing: true}}, pulls); diff != "" {
		t.Errorf("pulls (-want +got):\n%s", diff)
	}
	if name, err := a.ensureImageName(context.Background(), cl, "other"); err == nil || name != "other" {
		t.Errorf("ensureImageName(other) = %q, %v; want the missing image's error", name, err)
	}
}
