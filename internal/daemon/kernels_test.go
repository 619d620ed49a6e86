package daemon

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"banger/internal/api"
)

func TestKernelRoutes(t *testing.T) {
	td := startDaemon(t, daemonOpts{})
	// Any x86_64 ELF executable passes as a vmlinux: use this test binary.
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(api.ImportKernelRequest{Name: "host", Path: exe})
	resp, data := td.do("POST", "/v1/kernels", string(body))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("import: status %d: %s", resp.StatusCode, data)
	}
	var k api.Kernel
	decodeStrict(t, data, &k)
	if k.Name != "host" || k.Source != api.KernelImported || filepath.Dir(k.Vmlinux) != filepath.Join(td.layout.StateDir, "kernels", k.ID) {
		t.Errorf("imported kernel = %+v", k)
	}

	resp, data = td.do("GET", "/v1/kernels", "")
	var list []api.Kernel
	decodeStrict(t, data, &list)
	if resp.StatusCode != http.StatusOK || len(list) != 1 || list[0].ID != k.ID {
		t.Errorf("list: status %d, %+v", resp.StatusCode, list)
	}
	resp, data = td.do("GET", "/v1/kernels/host", "")
	if resp.StatusCode != http.StatusOK || !bytes.Contains(data, []byte(k.SHA256)) {
		t.Errorf("get: status %d: %s", resp.StatusCode, data)
	}

	garbage := filepath.Join(t.TempDir(), "garbage")
	if err := os.WriteFile(garbage, bytes.Repeat([]byte{7}, 5000), 0o644); err != nil {
		t.Fatal(err)
	}
	body, _ = json.Marshal(api.ImportKernelRequest{Name: "bad", Path: garbage})
	if resp, data := td.do("POST", "/v1/kernels", string(body)); resp.StatusCode != http.StatusBadRequest || !bytes.Contains(data, []byte("invalid_argument")) {
		t.Errorf("import garbage: status %d: %s", resp.StatusCode, data)
	}

	if resp, data := td.do("DELETE", "/v1/kernels/host", ""); resp.StatusCode != http.StatusOK {
		t.Errorf("delete: status %d: %s", resp.StatusCode, data)
	}
	if resp, _ := td.do("GET", "/v1/kernels/host", ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("get after delete: status %d, want 404", resp.StatusCode)
	}
	if _, err := os.Stat(k.Vmlinux); !os.IsNotExist(err) {
		t.Errorf("kernel files survive delete: %v", err)
	}
}

func TestKernelBuildStreamsError(t *testing.T) {
	td := startDaemon(t, daemonOpts{})
	body, _ := json.Marshal(api.BuildKernelRequest{Source: "/nonexistent/linux-source-6.1.tar.xz"})
	resp := td.open("POST", "/v1/kernels/build", string(body), "Accept", api.NDJSON)
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != api.NDJSON {
		t.Fatalf("status %d, content type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var last api.Event
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		last = api.Event{}
		if err := json.Unmarshal(sc.Bytes(), &last); err != nil {
			t.Fatalf("bad event %q: %v", sc.Text(), err)
		}
		if last.Type == api.EventStep && (last.Kind != "kernel.build" || last.Target != "default" || last.Index < 1) {
			t.Errorf("malformed step event %+v", last)
		}
	}
	if last.Type != api.EventError || last.Error == nil || last.Error.Code != "not_found" {
		t.Errorf("last event %+v, want a not_found error", last)
	}
}
