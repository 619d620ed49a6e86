package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"banger/internal/vmm/firecracker/fctest"
)

func TestFailHook(t *testing.T) {
	f := startFake(t, "FAKEFC_FAIL=PUT /drives/rootfs, GET /version")
	disk := f.file("disk", 4096)
	status, resp := f.do("PUT", "/drives/rootfs", fmt.Sprintf(`{"drive_id":"rootfs","path_on_host":%s,"is_root_device":true}`, jsonString(disk)))
	if got := faultOf(t, resp); status != 400 || !strings.Contains(got, "injected failure for PUT /drives/rootfs") {
		t.Errorf("PUT /drives/rootfs: got %d %q, want the injected 400", status, got)
	}
	if status, _ := f.do("GET", "/version", ""); status != 400 {
		t.Errorf("GET /version: got %d, want the injected 400", status)
	}
	f.mustPut("/drives/work", fmt.Sprintf(`{"drive_id":"work","path_on_host":%s,"is_root_device":false}`, jsonString(disk)))
	var cfg struct {
		Drives []drive `json:"drives"`
	}
	_, body := f.do("GET", "/vm/config", "")
	if err := json.Unmarshal([]byte(body), &cfg); err != nil {
		t.Fatal(err)
	}
	if len(cfg.Drives) != 1 || cfg.Drives[0].DriveID != "work" {
		t.Errorf("drives after an injected failure: got %+v, want only work", cfg.Drives)
	}
}

func TestRecordHook(t *testing.T) {
	dir := shortDir(t)
	rec := filepath.Join(dir, "record.jsonl")
	f := spawn(t, dir, []string{"--id", "rec"}, "FAKEFC_RECORD="+rec)
	f.waitReady()
	f.mustPut("/machine-config", "{\n  \"vcpu_count\": 2,\n  \"mem_size_mib\": 256\n}")
	f.do("PUT", "/machine-config", `{"vcpu_count":0,"mem_size_mib":256}`)
	f.do("PUT", "/actions", `not json`)

	got := fctest.ReadRecord(t, rec)
	want := []fctest.Request{
		{Method: "GET", Path: "/", Status: 200}, // waitReady's probe
		{Method: "PUT", Path: "/machine-config", Body: json.RawMessage(`{"vcpu_count":2,"mem_size_mib":256}`), Status: 204},
		{Method: "PUT", Path: "/machine-config", Body: json.RawMessage(`{"vcpu_count":0,"mem_size_mib":256}`), Status: 400},
		{Method: "PUT", Path: "/actions", Body: json.RawMessage(`"not json"`), Status: 400},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("record (-want +got):\n%s", diff)
	}
}

func TestLoadHooks(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    hooks
		wantErr string
	}{
		{"defaults", nil, hooks{fail: map[string]bool{}, version: "1.7.0"}, ""},
		{"all set", map[string]string{
			"FAKEFC_RECORD": "/r", "FAKEFC_FAIL": "put /a,GET /b/c", "FAKEFC_START_DELAY": "200ms",
			"FAKEFC_VERSION": "v1.5.1", "FAKEFC_IGNORE_CTRLALTDEL": "1", "FAKEFC_OPENED": "/o",
		}, hooks{record: "/r", opened: "/o", fail: map[string]bool{"PUT /a": true, "GET /b/c": true}, startDelay: 200 * time.Millisecond, version: "1.5.1", ignoreCtrlAltDel: true}, ""},
		{"fail without path", map[string]string{"FAKEFC_FAIL": "PUT"}, hooks{}, "want \"METHOD /path\""},
		{"bad delay", map[string]string{"FAKEFC_START_DELAY": "soon"}, hooks{}, "FAKEFC_START_DELAY"},
		{"bad ignore", map[string]string{"FAKEFC_IGNORE_CTRLALTDEL": "yes"}, hooks{}, "FAKEFC_IGNORE_CTRLALTDEL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := loadHooks(func(k string) string { return tt.env[k] })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(hooks{})); diff != "" {
				t.Errorf("hooks (-want +got):\n%s", diff)
			}
		})
	}
}

// TestChunkedBodyRejected: Firecracker's HTTP server only understands
// Content-Length framing, so a chunked body must not silently work here.
func TestChunkedBodyRejected(t *testing.T) {
	f := startFake(t)
	c, err := net.Dial("unix", f.sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	body := `{"vcpu_count":2,"mem_size_mib":256}`
	fmt.Fprintf(c, "PUT /machine-config HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n", len(body), body)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 400 || !strings.Contains(faultOf(t, string(data)), "chunked") {
		t.Errorf("chunked PUT: got %d %s, want 400 about chunked bodies", resp.StatusCode, data)
	}
	if got := f.getJSON("/machine-config").(map[string]any)["vcpu_count"]; got != 1.0 {
		t.Errorf("vcpu_count after a rejected chunked PUT: got %v, want 1", got)
	}
}
