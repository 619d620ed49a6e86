package daemon

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"banger/internal/api"
	"banger/internal/errdefs"
)

func TestGarbageBodies(t *testing.T) {
	td := startDaemon(t, daemonOpts{})
	tests := []struct {
		name      string
		body      string
		wantInMsg string
	}{
		{"invalid JSON", `{"name":`, "not valid JSON"},
		{"not JSON at all", `name=x`, "not valid JSON"},
		{"empty body", ``, "empty"},
		{"only spaces", "  \n", "empty"},
		{"null", `null`, "is null, not a JSON object"},
		{"null with spaces", " null\n", "is null, not a JSON object"},
		{"array instead of object", `[{"name":"x"}]`, "is an array, not a JSON object"},
		{"string instead of object", `"x"`, "is a string, not a JSON object"},
		{"number instead of object", `1`, "is a number, not a JSON object"},
		{"boolean instead of object", `true`, "is a boolean, not a JSON object"},
		{"null then object", `null {}`, "after the JSON object"},
		{"unknown field", `{"name":"x","cpus":2}`, "cpus"},
		{"trailing data", `{"name":"x"} {"name":"y"}`, "after the JSON object"},
		{"trailing garbage", `{"name":"x"}]`, "after the JSON object"},
		{"2 MiB body", `{"name":"` + strings.Repeat("a", 2<<20) + `"}`, "larger than"},
		{"vcpus is a string", `{"vcpus":"x"}`, "vcpus"},
		{"start is a number", `{"start":1}`, "start"},
		{"disk_bytes overflows", `{"disk_bytes":1e30}`, "disk_bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			td := td.sub(t)
			resp, body := td.do("POST", "/v1/vms", tt.body)
			e := td.checkAPIError(resp, body, errdefs.InvalidArgument)
			if !strings.Contains(e.Message, tt.wantInMsg) {
				t.Errorf("message %q does not mention %q", e.Message, tt.wantInMsg)
			}
			// The daemon still serves.
			resp, body = td.do("GET", "/v1/vms", "")
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET /v1/vms after garbage: status %d: %s", resp.StatusCode, body)
			}
			var vms []api.VM
			decodeStrict(t, body, &vms)
			if len(vms) != 0 {
				t.Errorf("garbage created VMs: %+v", vms)
			}
		})
	}
}

// TestGarbageOnEveryBodyRoute checks that every route with a body decodes
// the same way: docs/api.md promises a single JSON object with no unknown
// fields, so an empty body, null, a non-object, trailing data and unknown
// fields are all invalid_argument, and nothing is created.
func TestGarbageOnEveryBodyRoute(t *testing.T) {
	td := startDaemon(t, daemonOpts{})
	routes := []struct {
		path   string
		header []string
	}{
		{"/v1/vms", nil},
		{"/v1/images", nil},
		{"/v1/images/build", nil},
		{"/v1/kernels", nil},
		{"/v1/kernels/build", nil},
		{"/v1/vms/x/forwards", nil},
		{"/v1/vms/x/exec", []string{"Connection", "Upgrade", "Upgrade", "banger-exec"}},
	}
	bodies := []string{``, ` `, `null`, `[]`, `"x"`, `0`, `false`, `{"bogus":true}`, `{"name":1}`, `{} {}`, `{}]`, `{`, `null {}`}
	for _, rt := range routes {
		for _, body := range bodies {
			resp, data := td.do("POST", rt.path, body, rt.header...)
			td.checkAPIError(resp, data, errdefs.InvalidArgument)
			if t.Failed() {
				t.Fatalf("POST %s %q: %d %s", rt.path, body, resp.StatusCode, data)
			}
		}
	}
	for _, list := range []string{"/v1/images", "/v1/kernels", "/v1/vms"} {
		resp, data := td.do("GET", list, "")
		if got, want := strings.TrimSpace(string(data)), "[]"; resp.StatusCode != 200 || got != want {
			t.Errorf("GET %s = %d %s, want 200 %s", list, resp.StatusCode, got, want)
		}
	}
}

// FuzzCreateBody posts arbitrary bytes as a create request. No image is
// registered, so nothing can be created; whatever arrives, the answer is a
// client error (or success) with a JSON body, never a 500.
func FuzzCreateBody(f *testing.F) {
	for _, seed := range []string{
		``, `{}`, `null`, `[]`, `"x"`, `{"name":"x"}`, `{"name":"x","image":"default","start":true}`,
		`{"vcpus":"x"}`, `{"vcpus":-1,"memory_mib":-1,"disk_bytes":-1}`, `{"vcpus":1e400}`,
		`{"name":"` + strings.Repeat("a", 300) + `"}`, `{"name":"x"} {}`, `{"name":"\u0000"}`,
		"\xff\xfe{", `{"image":"../../etc/passwd"}`, `{"name":"Bad Name"}`, `{"disk_bytes":9223372036854775807}`,
	} {
		f.Add([]byte(seed))
	}
	d, _, _, _ := newTestDaemon(f, os.Getuid())
	h := d.Handler()
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest("POST", "/v1/vms", bytes.NewReader(body))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 || rec.Code < 200 || (rec.Code >= 300 && rec.Code < 400) {
			t.Fatalf("POST /v1/vms %q: status %d: %s", body, rec.Code, rec.Body)
		}
		if !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("POST /v1/vms %q: body is not JSON: %q", body, rec.Body)
		}
		if rec.Code >= 400 {
			var eb api.ErrorBody
			if err := json.Unmarshal(rec.Body.Bytes(), &eb); err != nil || !errdefs.Kind(eb.Error.Code).Valid() {
				t.Fatalf("POST /v1/vms %q: error body %s has no valid code (%v)", body, rec.Body, err)
			}
			if got, want := eb.Error.OpID, rec.Header().Get(api.OpIDHeader); got != want {
				t.Fatalf("op_id %q, header %q", got, want)
			}
		}
	})
}
