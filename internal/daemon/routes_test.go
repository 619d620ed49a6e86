package daemon

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"banger/internal/api"
	"banger/internal/errdefs"
)

func TestUnknownRoutes(t *testing.T) {
	td := startDaemon(t, daemonOpts{})
	tests := []struct {
		name         string
		method, path string
		want         errdefs.Kind
		wantInMsg    []string
	}{
		{"unknown path", "GET", "/v1/nope", errdefs.NotFound, []string{"/v1/nope", "docs/api.md"}},
		{"root", "GET", "/", errdefs.NotFound, []string{"GET /"}},
		{"other version", "GET", "/v2/vms", errdefs.NotFound, []string{"/v2/vms"}},
		{"too deep", "GET", "/v1/vms/a/b/c", errdefs.NotFound, []string{"/v1/vms/a/b/c"}},
		{"wrong method on collection", "PUT", "/v1/vms", errdefs.InvalidArgument, []string{"GET", "POST"}},
		{"wrong method on item", "PATCH", "/v1/images/x", errdefs.InvalidArgument, []string{"GET", "DELETE"}},
		{"wrong method on info", "POST", "/v1/system/info", errdefs.InvalidArgument, []string{"GET"}},
		{"wrong method on events", "DELETE", "/v1/events", errdefs.InvalidArgument, []string{"GET"}},
		{"unknown action", "POST", "/v1/vms/x/explode", errdefs.NotFound, []string{`"explode"`, "start"}},
		{"logs is not an action", "POST", "/v1/vms/x/logs", errdefs.NotFound, []string{`"logs"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			td := td.sub(t)
			resp, body := td.do(tt.method, tt.path, "")
			e := td.checkAPIError(resp, body, tt.want)
			for _, w := range tt.wantInMsg {
				if !strings.Contains(e.Message, w) {
					t.Errorf("message %q does not mention %q", e.Message, w)
				}
			}
		})
	}
}

// TestRouteErrorsWithoutSocket drives the handler directly: the route
// errors do not depend on the transport.
func TestRouteErrorsWithoutSocket(t *testing.T) {
	d, _, _, _ := newTestDaemon(t, os.Getuid())
	h := d.Handler()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("PUT", "/v1/operations", nil))
	var eb api.ErrorBody
	if err := json.Unmarshal(rec.Body.Bytes(), &eb); err != nil {
		t.Fatalf("body %q: %v", rec.Body, err)
	}
	got := api.Error{Code: eb.Error.Code, OpID: eb.Error.OpID}
	want := api.Error{Code: string(errdefs.InvalidArgument), OpID: rec.Header().Get(api.OpIDHeader)}
	if diff := cmp.Diff(want, got); diff != "" || rec.Code != http.StatusBadRequest {
		t.Errorf("PUT /v1/operations: status %d, error (-want +got):\n%s", rec.Code, diff)
	}
	if !strings.Contains(eb.Error.Message, "GET") {
		t.Errorf("message %q does not name the allowed GET", eb.Error.Message)
	}
}

// jsonKeys returns the sorted keys of a JSON object.
func jsonKeys(t *testing.T, data []byte) []string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("not a JSON object: %v: %s", err, data)
	}
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func TestSystemInfo(t *testing.T) {
	td := startDaemon(t, daemonOpts{})
	resp, body := td.do("GET", "/v1/system/info", "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	wantKeys := []string{"config_file", "default_image", "disk_strategy", "disk_strategy_why", "driver", "images", "pid", "running", "runtime_dir", "socket",
		"started_at", "state_dir", "version", "vms"}
	if diff := cmp.Diff(wantKeys, jsonKeys(t, body)); diff != "" {
		t.Errorf("info keys (-want +got):\n%s", diff)
	}
	var got api.SystemInfo
	decodeStrict(t, body, &got)
	want := api.SystemInfo{
		Version:   testVersion,
		PID:       os.Getpid(),
		StartedAt: td.d.started,
		Driver:    "firecracker",
		// The test state directory is not on XFS or btrfs here; where it
		// is, reflink is chosen.
		DiskStrategy:    got.DiskStrategy,
		DiskStrategyWhy: got.DiskStrategyWhy,
		StateDir:        td.layout.StateDir,
		RuntimeDir:      td.layout.RuntimeDir,
		Socket:          td.layout.Socket(),
		ConfigFile:      td.layout.ConfigFile(),
		DefaultImage:    "default",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("info (-want +got):\n%s", diff)
	}
	if s := got.DiskStrategy; (s != "sparse" && s != "reflink") || got.DiskStrategyWhy == "" {
		t.Errorf("disk strategy %q (%q), want sparse or reflink (auto never makes the XFS file) with a reason", s, got.DiskStrategyWhy)
	}

	img := td.registerImage("base")
	for _, name := range []string{"one", "two"} {
		if resp, body := td.do("POST", "/v1/vms", smallVM(name, img.Name, false)); resp.StatusCode != http.StatusCreated {
			t.Fatalf("create %s: status %d: %s", name, resp.StatusCode, body)
		}
	}
	_, body = td.do("GET", "/v1/system/info", "")
	got = api.SystemInfo{}
	decodeStrict(t, body, &got)
	want.VMs, want.Images = 2, 1
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("info after creating (-want +got):\n%s", diff)
	}
}

func TestDoctor(t *testing.T) {
	td := startDaemon(t, daemonOpts{})
	resp, body := td.do("GET", "/v1/system/doctor", "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if diff := cmp.Diff([]string{"checks"}, jsonKeys(t, body)); diff != "" {
		t.Errorf("report keys (-want +got):\n%s", diff)
	}
	var raw struct{ Checks []json.RawMessage }
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatal(err)
	}
	if len(raw.Checks) == 0 {
		t.Fatalf("doctor reported no checks: %s", body)
	}
	allowed := map[string]bool{"name": true, "status": true, "detail": true, "fix": true}
	for _, c := range raw.Checks {
		for _, k := range jsonKeys(t, c) {
			if !allowed[k] {
				t.Errorf("check has undocumented key %q: %s", k, c)
			}
		}
	}
	var report api.DoctorReport
	decodeStrict(t, body, &report)
	names := map[string]bool{}
	for _, c := range report.Checks {
		if c.Name == "" || c.Detail == "" {
			t.Errorf("check without name or detail: %+v", c)
		}
		if names[c.Name] {
			t.Errorf("check %q reported twice", c.Name)
		}
		names[c.Name] = true
		switch c.Status {
		case api.CheckPass:
			if c.Fix != "" {
				t.Errorf("passing check %q has a fix %q", c.Name, c.Fix)
			}
		case api.CheckWarn, api.CheckFail:
			if c.Fix == "" {
				t.Errorf("%s check %q has no fix: %+v", c.Status, c.Name, c)
			}
		default:
			t.Errorf("check %q has status %q, want PASS, WARN or FAIL", c.Name, c.Status)
		}
	}
}
