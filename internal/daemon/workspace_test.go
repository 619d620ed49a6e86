package daemon

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"banger/internal/errdefs"
)

// TestWorkspaceBodyIsStreamed: the workspace upload is exempt from the
// 1 MiB whole-body limit (its tar stream goes to the guest as it is
// read), while every other route keeps it; its query is validated, every
// problem named at once.
func TestWorkspaceBodyIsStreamed(t *testing.T) {
	td := startDaemon(t, daemonOpts{})
	big := strings.Repeat("x", 2<<20)
	q := url.Values{"guest_path": {"/root/app"}, "host_path": {"/home/u/app"}, "base": {strings.Repeat("ab", 20)}}
	resp, body := td.do(http.MethodPut, "/v1/vms/nope/workspace?"+q.Encode(), big, "Content-Type", "application/x-tar")
	e := td.checkAPIError(resp, body, errdefs.NotFound)
	if strings.Contains(e.Message, "larger than") {
		t.Errorf("the workspace body was read whole: %s", e.Message)
	}
	resp, body = td.do(http.MethodPut, "/v1/vms/nope/workspace?guest_path=rel&base=HEAD&branch=-x", "x")
	e = td.checkAPIError(resp, body, errdefs.InvalidArgument)
	for _, want := range []string{`guest path "rel" is not absolute`, `host path "" is not absolute`, `base commit "HEAD"`, `branch "-x"`} {
		if !strings.Contains(e.Message, want) {
			t.Errorf("message %q lacks %q", e.Message, want)
		}
	}
	resp, body = td.do(http.MethodPost, "/v1/vms", big)
	if e := td.checkAPIError(resp, body, errdefs.InvalidArgument); !strings.Contains(e.Message, "larger than") {
		t.Errorf("POST /v1/vms with 2 MiB: %s", e.Message)
	}
}

// TestStreamedBodies: exactly the vm cp upload and the workspace upload
// take a streamed body, matched by the real router's patterns.
func TestStreamedBodies(t *testing.T) {
	mux := &routeMux{ServeMux: http.NewServeMux()}
	(&Daemon{}).routes(mux)
	tests := []struct {
		method, path string
		want         bool
	}{
		{"PUT", "/v1/vms/dev/workspace", true},
		{"PUT", "/v1/vms/dev/files", true},
		{"POST", "/v1/vms/dev/workspace", false},
		{"GET", "/v1/vms/dev/files", false},
		{"PUT", "/v1/vms/dev/x/workspace", false},
		{"PUT", "/v1/vms//workspace", false},
		{"PUT", "/v1/images/dev/workspace", false},
		{"PUT", "/v2/vms/dev/workspace", false},
		{"POST", "/v1/vms", false},
	}
	for _, tt := range tests {
		r, _ := http.NewRequest(tt.method, "http://bangerd"+tt.path, nil)
		_, pattern := mux.Handler(r)
		if got := streamedBody(pattern); got != tt.want {
			t.Errorf("%s %s (pattern %q): streamed = %v, want %v", tt.method, tt.path, pattern, got, tt.want)
		}
	}
}
