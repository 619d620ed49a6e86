package client

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"

	"banger/internal/api"
	"banger/internal/errdefs"
)

func TestBuildImage(t *testing.T) {
	var got api.BuildImageRequest
	c := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/images/build" || r.Header.Get("Accept") != api.NDJSON {
			t.Errorf("request %s %s Accept %q", r.Method, r.URL.Path, r.Header.Get("Accept"))
		}
		_ = json.NewDecoder(r.Body).Decode(&got)
		if got.Name == "none" {
			streamLines(w, `{"type":"result","time":"2026-01-01T00:00:00Z"}`)
			return
		}
		streamLines(w,
			`{"type":"step","time":"2026-01-01T00:00:00Z","step":"bootstrap","index":2,"total":5,"detail":"I: downloading","fraction":0.08}`,
			`{"type":"result","time":"2026-01-01T00:00:00Z","result":{"id":"00000000000000ab","name":"dev","rootfs":"/s/images/x/rootfs.ext4","rootfs_size":5,"kernel":"/k","created_at":"2026-01-01T00:00:00Z"}}`)
	}))
	req := api.BuildImageRequest{Name: "dev", Suite: "bookworm", Packages: []string{"htop"}, Kernel: "k"}
	var steps []api.Event
	img, err := c.BuildImage(context.Background(), req, func(ev api.Event) { steps = append(steps, ev) })
	if err != nil {
		t.Fatalf("BuildImage: %v", err)
	}
	if diff := cmp.Diff(req, got); diff != "" {
		t.Errorf("request body (-want +got):\n%s", diff)
	}
	if img.ID != "00000000000000ab" || img.Name != "dev" || img.RootFSSize != 5 {
		t.Errorf("image = %+v", img)
	}
	if len(steps) != 1 || steps[0].Detail != "I: downloading" || steps[0].Fraction != 0.08 {
		t.Errorf("progress = %+v", steps)
	}
	if _, err := c.BuildImage(context.Background(), api.BuildImageRequest{Name: "none"}, nil); errdefs.KindOf(err) != errdefs.Internal {
		t.Errorf("result without an image: %v, want Internal", err)
	}
}

func TestPullImage(t *testing.T) {
	var got api.PullImageRequest
	c := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/images/pull" || r.Header.Get("Accept") != api.NDJSON {
			t.Errorf("request %s %s Accept %q", r.Method, r.URL.Path, r.Header.Get("Accept"))
		}
		_ = json.NewDecoder(r.Body).Decode(&got)
		streamLines(w,
			`{"type":"step","time":"2026-01-01T00:00:00Z","step":"download layers","index":1,"total":2,"detail":"abc 1B/2B","fraction":0.5}`,
			`{"type":"result","time":"2026-01-01T00:00:00Z","result":{"id":"00000000000000ab","name":"debian-12","state":"pulled","source":"index.docker.io/library/debian:12","created_at":"2026-01-01T00:00:00Z"}}`)
	}))
	req := api.PullImageRequest{Ref: "debian:12", Name: "d"}
	var steps []api.Event
	img, err := c.PullImage(context.Background(), req, func(ev api.Event) { steps = append(steps, ev) })
	if err != nil {
		t.Fatalf("PullImage: %v", err)
	}
	if diff := cmp.Diff(req, got); diff != "" {
		t.Errorf("request body (-want +got):\n%s", diff)
	}
	if img.State != api.ImagePulled || img.Source != "index.docker.io/library/debian:12" || len(steps) != 1 {
		t.Errorf("image = %+v, progress %+v", img, steps)
	}
}
