package daemon

import (
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"

	"banger/internal/api"
	"banger/internal/errdefs"
)

// documentedStatus is the table of docs/api.md, read from it.
var documentedStatus = readStatusTable()

// readStatusTable reads the rows "| `code` | status | meaning |" of
// docs/api.md's error table.
func readStatusTable() map[errdefs.Kind]int {
	b, err := os.ReadFile(apiDocs)
	if err != nil {
		return nil
	}
	table := map[errdefs.Kind]int{}
	for _, line := range strings.Split(string(b), "\n") {
		cells := strings.Split(strings.TrimSpace(line), "|")
		if len(cells) != 5 {
			continue
		}
		code := strings.Trim(strings.TrimSpace(cells[1]), "`")
		status, err := strconv.Atoi(strings.TrimSpace(cells[2]))
		if err != nil || !errdefs.Kind(code).Valid() {
			continue
		}
		table[errdefs.Kind(code)] = status
	}
	return table
}

// TestDocumentedStatusOfEveryKind checks docs/api.md's error table
// against errdefs, the one mapping of kinds to statuses, for every kind,
// including kinds no request can provoke today (unavailable).
func TestDocumentedStatusOfEveryKind(t *testing.T) {
	if documentedStatus == nil {
		t.Fatalf("cannot read %s", apiDocs)
	}
	for _, k := range errdefs.Kinds {
		want, ok := documentedStatus[k]
		if !ok {
			t.Errorf("kind %s is not in the error table of %s", k, apiDocs)
			continue
		}
		if got := errdefs.HTTPStatus(k); got != want {
			t.Errorf("errdefs.HTTPStatus(%s) = %d, %s says %d", k, got, apiDocs, want)
		}
	}
	if got, want := len(documentedStatus), len(errdefs.Kinds); got != want {
		t.Errorf("%s's error table has %d kinds, errdefs has %d", apiDocs, got, want)
	}
}

// checkAPIError asserts that resp/body is the API's error shape with code,
// that op_id matches the Banger-Op-Id header, and that the daemon logged
// the op id. It returns the error.
func (td *testDaemon) checkAPIError(resp *http.Response, body []byte, code errdefs.Kind) api.Error {
	t := td.t
	t.Helper()
	if got, want := resp.StatusCode, documentedStatus[code]; got != want {
		t.Errorf("status = %d, want %d (code %s); body %s", got, want, code, body)
	}
	if got, want := resp.Header.Get("Content-Type"), "application/json"; got != want {
		t.Errorf("Content-Type = %q, want %q", got, want)
	}
	var eb api.ErrorBody
	decodeStrict(t, body, &eb)
	if got, want := eb.Error.Code, string(code); got != want {
		t.Errorf("code = %q, want %q (message %q)", got, want, eb.Error.Message)
	}
	if eb.Error.Message == "" {
		t.Errorf("error message is empty")
	}
	opID := resp.Header.Get(api.OpIDHeader)
	if !strings.HasPrefix(opID, "op-") {
		t.Errorf("%s header = %q, want an op id", api.OpIDHeader, opID)
	}
	if eb.Error.OpID != opID {
		t.Errorf("op_id = %q, want the header's %q", eb.Error.OpID, opID)
	}
	if recs := td.logs.find(t, map[string]any{"op_id": opID, "code": string(code)}); len(recs) == 0 {
		t.Errorf("no daemon log record with op_id %s and code %s", opID, code)
	}
	if recs := td.logs.find(t, map[string]any{"op_id": opID, "msg": "request",
		"status": float64(resp.StatusCode)}); len(recs) != 1 {
		t.Errorf("want one request log record for op_id %s with status %d, got %d", opID, resp.StatusCode, len(recs))
	}
	return eb.Error
}

func TestErrorKindsOverTheSocket(t *testing.T) {
	td := startDaemon(t, daemonOpts{})
	img := td.registerImage("base")
	// An image whose root filesystem turns into a symlink loop after
	// registration: copying it fails in a way nobody classified.
	broken := td.registerImage("broken")
	if err := os.Remove(broken.RootFS); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(broken.RootFS, broken.RootFS); err != nil {
		t.Fatal(err)
	}
	if resp, body := td.do("POST", "/v1/vms", smallVM("user", img.Name, false)); resp.StatusCode != http.StatusCreated {
		t.Fatalf("create VM: status %d: %s", resp.StatusCode, body)
	}

	tests := []struct {
		name         string
		method, path string
		body         string
		want         errdefs.Kind
		wantInMsg    []string
	}{
		{"missing VM", "GET", "/v1/vms/nope", "", errdefs.NotFound, []string{`"nope"`}},
		{"missing image", "GET", "/v1/images/nope", "", errdefs.NotFound, []string{`"nope"`}},
		{"missing operation", "GET", "/v1/operations/op-000000000000", "", errdefs.NotFound, []string{"op-000000000000"}},
		{"image name taken", "POST", "/v1/images",
			`{"name":"base","rootfs":"` + img.RootFS + `","kernel":"` + img.Kernel + `"}`, errdefs.AlreadyExists, []string{"base"}},
		{"VM name taken", "POST", "/v1/vms", smallVM("user", img.Name, false), errdefs.AlreadyExists, []string{"user"}},
		{"malformed body", "POST", "/v1/vms", "{", errdefs.InvalidArgument, []string{"JSON"}},
		{"bad limit", "GET", "/v1/operations?limit=0", "", errdefs.InvalidArgument, []string{"limit"}},
		{"bad tail", "GET", "/v1/vms/user/logs?tail=-1", "", errdefs.InvalidArgument, []string{"tail"}},
		{"every problem listed", "POST", "/v1/vms", `{"name":"Bad Name!","vcpus":-1,"memory_mib":-1}`,
			errdefs.InvalidArgument, []string{"name", "vcpus", "memory"}},
		{"image in use", "DELETE", "/v1/images/base", "", errdefs.FailedPrecondition, []string{"user"}},
		{"unreadable root filesystem", "POST", "/v1/vms", smallVM("doomed", broken.Name, false),
			errdefs.Internal, []string{"copy root disk"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			td := td.sub(t)
			resp, body := td.do(tt.method, tt.path, tt.body)
			e := td.checkAPIError(resp, body, tt.want)
			for _, w := range tt.wantInMsg {
				if !strings.Contains(e.Message, w) {
					t.Errorf("message %q does not mention %q", e.Message, w)
				}
			}
		})
	}

	t.Run("failed create left nothing behind", func(t *testing.T) {
		td := td.sub(t)
		resp, body := td.do("GET", "/v1/vms/doomed", "")
		td.checkAPIError(resp, body, errdefs.NotFound)
	})
}

func TestFailureIsLoggedWithOpID(t *testing.T) {
	td := startDaemon(t, daemonOpts{})
	// The op id in an error body must lead a person reading the CLI's
	// error to the daemon's log line with the full error.
	resp, body := td.do("POST", "/v1/vms", `{"name":"x"}`)
	e := td.checkAPIError(resp, body, errdefs.NotFound)
	recs := td.logs.find(t, map[string]any{"op_id": e.OpID, "msg": "request failed"})
	if len(recs) != 1 {
		t.Fatalf("want one \"request failed\" record for %s, got %d", e.OpID, len(recs))
	}
	if got, want := recs[0]["err"], e.Message; got != want {
		t.Errorf("logged err = %v, want the message %q", got, want)
	}
}
