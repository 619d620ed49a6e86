package client

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"banger/internal/api"
	"banger/internal/errdefs"
)

// route is what the fake daemon saw of one request.
type route struct {
	Method  string
	Pattern string
	Ref     string // the {ref} path value, decoded
	Raw     string // the request URI as sent
}

// recorder is a fake daemon with the API's route shapes that records each
// request and answers with an empty JSON value or stream.
type recorder struct {
	mu   sync.Mutex
	seen []route
}

func (rec *recorder) handler() http.Handler {
	const (
		object = iota // {}
		list          // []
		text          // a line of console
	)
	routes := []struct {
		pattern string
		reply   int
	}{
		{"GET /v1/system/info", object}, {"GET /v1/system/doctor", object},
		{"GET /v1/vms", list}, {"POST /v1/vms", object}, {"GET /v1/vms/{ref}", object},
		{"DELETE /v1/vms/{ref}", object}, {"POST /v1/vms/{ref}/{action}", object},
		{"GET /v1/vms/{ref}/logs", text}, {"GET /v1/images", list}, {"POST /v1/images", object},
		{"GET /v1/images/{ref}", object}, {"DELETE /v1/images/{ref}", object},
		{"GET /v1/operations", list},
	}
	mux := http.NewServeMux()
	for _, rt := range routes {
		mux.HandleFunc(rt.pattern, func(w http.ResponseWriter, r *http.Request) {
			rec.mu.Lock()
			rec.seen = append(rec.seen, route{Method: r.Method, Pattern: r.Pattern, Ref: r.PathValue("ref"), Raw: r.RequestURI})
			rec.mu.Unlock()
			switch {
			case r.Header.Get("Accept") == api.NDJSON:
				// Long operations end with a result holding the VM.
				b, _ := json.Marshal(api.Event{Type: api.EventResult, VM: &api.VM{Name: r.PathValue("ref")}})
				streamLines(w, string(b))
			case rt.reply == text:
				_, _ = io.WriteString(w, "console\n")
			case rt.reply == list:
				writeJSON(w, []any{})
			default:
				writeJSON(w, map[string]any{})
			}
		})
	}
	return mux
}

func TestRequestPaths(t *testing.T) {
	tests := []struct {
		name string
		call func(ctx context.Context, c *Client) error
		want route
	}{
		{"Info", func(ctx context.Context, c *Client) error { _, err := c.Info(ctx); return err },
			route{"GET", "GET /v1/system/info", "", "/v1/system/info"}},
		{"Doctor", func(ctx context.Context, c *Client) error { _, err := c.Doctor(ctx); return err },
			route{"GET", "GET /v1/system/doctor", "", "/v1/system/doctor"}},
		{"ListVMs", func(ctx context.Context, c *Client) error { _, err := c.ListVMs(ctx); return err },
			route{"GET", "GET /v1/vms", "", "/v1/vms"}},
		{"GetVM slash", func(ctx context.Context, c *Client) error { _, err := c.GetVM(ctx, "a/b"); return err },
			route{"GET", "GET /v1/vms/{ref}", "a/b", "/v1/vms/a%2Fb"}},
		{"GetVM question mark", func(ctx context.Context, c *Client) error { _, err := c.GetVM(ctx, "x?y=1"); return err },
			route{"GET", "GET /v1/vms/{ref}", "x?y=1", "/v1/vms/x%3Fy=1"}},
		{"GetVM percent and space", func(ctx context.Context, c *Client) error { _, err := c.GetVM(ctx, "50% off"); return err },
			route{"GET", "GET /v1/vms/{ref}", "50% off", "/v1/vms/50%25%20off"}},
		{"StartVM", func(ctx context.Context, c *Client) error { _, err := c.StartVM(ctx, "../x", nil); return err },
			route{"POST", "POST /v1/vms/{ref}/{action}", "../x", "/v1/vms/..%2Fx/start"}},
		{"StopVM", func(ctx context.Context, c *Client) error { _, err := c.StopVM(ctx, "a", nil); return err },
			route{"POST", "POST /v1/vms/{ref}/{action}", "a", "/v1/vms/a/stop"}},
		{"RestartVM", func(ctx context.Context, c *Client) error { _, err := c.RestartVM(ctx, "a", nil); return err },
			route{"POST", "POST /v1/vms/{ref}/{action}", "a", "/v1/vms/a/restart"}},
		{"KillVM", func(ctx context.Context, c *Client) error { _, err := c.KillVM(ctx, "a#b", nil); return err },
			route{"POST", "POST /v1/vms/{ref}/{action}", "a#b", "/v1/vms/a%23b/kill"}},
		{"DeleteVM", func(ctx context.Context, c *Client) error { return c.DeleteVM(ctx, "a/b", nil) },
			route{"DELETE", "DELETE /v1/vms/{ref}", "a/b", "/v1/vms/a%2Fb"}},
		{"CreateVM", func(ctx context.Context, c *Client) error {
			_, err := c.CreateVM(ctx, api.CreateVMRequest{}, nil)
			return err
		},
			route{"POST", "POST /v1/vms", "", "/v1/vms"}},
		{"Logs", func(ctx context.Context, c *Client) error { return c.Logs(ctx, "a?b", 20, true, io.Discard) },
			route{"GET", "GET /v1/vms/{ref}/logs", "a?b", "/v1/vms/a%3Fb/logs?follow=1&tail=20"}},
		{"Logs without options", func(ctx context.Context, c *Client) error { return c.Logs(ctx, "a", 0, false, io.Discard) },
			route{"GET", "GET /v1/vms/{ref}/logs", "a", "/v1/vms/a/logs"}},
		{"ListImages", func(ctx context.Context, c *Client) error { _, err := c.ListImages(ctx); return err },
			route{"GET", "GET /v1/images", "", "/v1/images"}},
		{"GetImage", func(ctx context.Context, c *Client) error { _, err := c.GetImage(ctx, "debian/12"); return err },
			route{"GET", "GET /v1/images/{ref}", "debian/12", "/v1/images/debian%2F12"}},
		{"RegisterImage", func(ctx context.Context, c *Client) error {
			_, err := c.RegisterImage(ctx, api.RegisterImageRequest{Name: "d"})
			return err
		}, route{"POST", "POST /v1/images", "", "/v1/images"}},
		{"RemoveImage", func(ctx context.Context, c *Client) error { return c.RemoveImage(ctx, "a?b/c") },
			route{"DELETE", "DELETE /v1/images/{ref}", "a?b/c", "/v1/images/a%3Fb%2Fc"}},
		{"ListOperations", func(ctx context.Context, c *Client) error { _, err := c.ListOperations(ctx, 7); return err },
			route{"GET", "GET /v1/operations", "", "/v1/operations?limit=7"}},
	}
	rec := &recorder{}
	c := newServer(t, rec.handler())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec.mu.Lock()
			rec.seen = nil
			rec.mu.Unlock()
			if err := tt.call(context.Background(), c); err != nil {
				t.Fatalf("call: %v", err)
			}
			rec.mu.Lock()
			defer rec.mu.Unlock()
			if diff := cmp.Diff([]route{tt.want}, rec.seen); diff != "" {
				t.Errorf("requests (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReplies(t *testing.T) {
	info := api.SystemInfo{Version: "0.1.0", PID: 42, Driver: "firecracker", VMs: 2, Running: 1, Images: 1}
	imgs := []api.Image{{ID: "0000000000000001", Name: "debian", RootFS: "/r", Kernel: "/k", RootFSSize: 1 << 30}}
	report := api.DoctorReport{Checks: []api.Check{{Name: "kvm", Status: api.CheckFail, Detail: "missing", Fix: "modprobe"}}}
	var gotReg api.RegisterImageRequest
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/system/info", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, info) })
	mux.HandleFunc("GET /v1/system/doctor", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, report) })
	mux.HandleFunc("GET /v1/images", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, imgs) })
	mux.HandleFunc("POST /v1/images", func(w http.ResponseWriter, r *http.Request) {
		if err := json.NewDecoder(r.Body).Decode(&gotReg); err != nil || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusCreated)
		writeJSON(w, imgs[0])
	})
	mux.HandleFunc("GET /v1/vms", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "[{") })
	c := newServer(t, mux)
	ctx := context.Background()

	gotInfo, err := c.Info(ctx)
	if err != nil {
		t.Fatalf("Info: %v", err)
	}
	if diff := cmp.Diff(info, gotInfo); diff != "" {
		t.Errorf("Info (-want +got):\n%s", diff)
	}
	if err := c.Ping(ctx); err != nil {
		t.Errorf("Ping: %v", err)
	}
	gotReport, err := c.Doctor(ctx)
	if err != nil {
		t.Fatalf("Doctor: %v", err)
	}
	if diff := cmp.Diff(report, gotReport); diff != "" {
		t.Errorf("Doctor (-want +got):\n%s", diff)
	}
	gotImgs, err := c.ListImages(ctx)
	if err != nil {
		t.Fatalf("ListImages: %v", err)
	}
	if diff := cmp.Diff(imgs, gotImgs); diff != "" {
		t.Errorf("ListImages (-want +got):\n%s", diff)
	}
	req := api.RegisterImageRequest{Name: "debian", RootFS: "/r", Kernel: "/k"}
	gotImg, err := c.RegisterImage(ctx, req)
	if err != nil {
		t.Fatalf("RegisterImage: %v", err)
	}
	if diff := cmp.Diff(imgs[0], gotImg); diff != "" {
		t.Errorf("RegisterImage (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(req, gotReg); diff != "" {
		t.Errorf("RegisterImage request (-want +got):\n%s", diff)
	}
	_, err = c.ListVMs(ctx)
	if err == nil || !strings.HasPrefix(err.Error(), "decode reply of GET /vms: ") {
		t.Errorf("ListVMs of a truncated reply: err = %v, want a decode error", err)
	}
}

func TestLogs(t *testing.T) {
	console := strings.Repeat("[    0.000000] Linux version 6.1\n", 2000)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/vms/{ref}/logs", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("ref") != "brave-otter" {
			writeError(w, http.StatusNotFound, "not_found", "no VM named "+r.PathValue("ref"), "op-2")
			return
		}
		_, _ = io.WriteString(w, console)
	})
	c := newServer(t, mux)
	var buf bytes.Buffer
	if err := c.Logs(context.Background(), "brave-otter", 0, false, &buf); err != nil {
		t.Fatalf("Logs: %v", err)
	}
	if got := buf.String(); got != console {
		t.Errorf("Logs copied %d bytes, want %d", len(got), len(console))
	}
	err := c.Logs(context.Background(), "nope", 0, false, &buf)
	if got, want := errdefs.KindOf(err), errdefs.NotFound; got != want {
		t.Errorf("Logs(nope): KindOf(%v) = %q, want %q", err, got, want)
	}
}
