package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"banger/internal/api"
)

// pullDaemon answers POST /v1/images/pull with a layer's progress and
// then a pulled image, or holds the request once blocked.
type pullDaemon struct {
	got    api.PullImageRequest
	block  bool
	hungUp chan struct{}
}

func (f *pullDaemon) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/images/pull" {
		http.Error(w, "unexpected "+r.Method+" "+r.URL.Path, http.StatusNotFound)
		return
	}
	_ = json.NewDecoder(r.Body).Decode(&f.got)
	w.Header().Set("Content-Type", api.NDJSON)
	enc := json.NewEncoder(w)
	_ = enc.Encode(api.Event{Type: api.EventStep, Kind: "image.pull", Step: "download layers", Index: 1, Total: 2,
		Bar: "0123456789ab", Current: 512, TotalUnits: 1024, Unit: api.UnitBytes, Fraction: 0.5})
	w.(http.Flusher).Flush()
	if f.block {
		<-r.Context().Done()
		close(f.hungUp)
		return
	}
	_ = enc.Encode(api.Event{Type: api.EventResult, Result: json.RawMessage(`{"id":"00000000000000ab","name":"debian-12",` +
		`"state":"ready","source":"index.docker.io/library/debian:12","rootfs_size":1048576,"config":{"init":"agent"},"layers":["sha256:01","sha256:02"]}`)})
}

// TestImagePull: the request carries REF and --name, and the command
// says what it pulled.
func TestImagePull(t *testing.T) {
	f := &pullDaemon{}
	var stdout, stderr bytes.Buffer
	a := &app{env: Env{Stdout: &stdout, Stderr: &stderr}, cl: serveFakeHandler(t, f)}
	cmd := a.imagePullCommand()
	quietCobra(cmd)
	cmd.SetArgs([]string{"debian:12", "--name", "debian-12"})
	if err := cmd.ExecuteContext(context.Background()); err != nil {
		t.Fatalf("image pull: %v", err)
	}
	if f.got != (api.PullImageRequest{Ref: "debian:12", Name: "debian-12"}) {
		t.Errorf("request = %+v", f.got)
	}
	if want := "pulled image debian-12 (00000000000000ab) from index.docker.io/library/debian:12: 2 layers, 1MiB root disk (boots with agent), in "; !strings.HasPrefix(stdout.String(), want) {
		t.Errorf("stdout = %q, want it to start %q", stdout.String(), want)
	}
}

// TestImagePullCancelled: Ctrl-C abandons the request (the daemon sees
// the client hang up), exits 130 and says the downloaded layers are kept.
func TestImagePullCancelled(t *testing.T) {
	f := &pullDaemon{block: true, hungUp: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stdout := &lineCounter{after: 1, then: cancel}
	var stderr bytes.Buffer
	a := &app{env: Env{Stdout: stdout, Stderr: &stderr}, cl: serveFakeHandler(t, f)}
	cmd := a.imagePullCommand()
	quietCobra(cmd)
	cmd.SetArgs([]string{"debian:12", "--json"})
	err := cmd.ExecuteContext(ctx)
	var ec exitCode
	if !errors.As(err, &ec) || ec != 130 {
		t.Errorf("image pull = %v, want exit status 130", err)
	}
	if want := "banger: cancelled: the layers downloaded whole are kept in the cache for the next pull; no image was recorded\n"; stderr.String() != want {
		t.Errorf("stderr = %q, want %q", stderr.String(), want)
	}
	select {
	case <-f.hungUp:
	case <-time.After(10 * time.Second):
		t.Errorf("the daemon's request was not cancelled")
	}
}
