package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"banger/internal/api"
	"banger/internal/bytesize"
)

// TestCreateFlagSizes: --memory and --disk-size turn into the request's
// numbers exactly, or into an error naming the flag; a size too large for
// 64 bits is an error, never a wrapped number.
func TestCreateFlagSizes(t *testing.T) {
	tests := []struct {
		memory, disk string
		wantMiB      int
		wantDisk     int64
		err          string
	}{
		{memory: "2G", disk: "8G", wantMiB: 2048, wantDisk: 8 << 30},
		{memory: "16T", wantMiB: 16 << 20},
		{memory: "17592186044672M", err: "--memory: invalid size \"17592186044672M\": too large"},
		{memory: "16777216T", err: "--memory: invalid size \"16777216T\": too large"},
		{memory: "1K", err: "--memory 1K: must be a positive whole number of MiB"},
		{memory: "0", err: "--memory 0: must be a positive whole number of MiB"},
		{memory: "-1G", err: "--memory: invalid size \"-1G\": a size cannot be negative"},
		{disk: "9223372036854775807", wantDisk: 9223372036854775807},
		{disk: "9223372036854775808", err: "--disk-size: invalid size \"9223372036854775808\": too large"},
		{disk: "0", err: "--disk-size 0: must be positive"},
	}
	for _, tt := range tests {
		c := createFlags{memory: tt.memory, disk: tt.disk, vcpuSet: func() bool { return false }}
		req, err := c.request()
		if tt.err != "" {
			if err == nil || !strings.HasPrefix(err.Error(), tt.err) {
				t.Errorf("--memory %q --disk-size %q: error %v, want %q", tt.memory, tt.disk, err, tt.err)
			}
			continue
		}
		if err != nil || req.MemoryMiB != tt.wantMiB || req.DiskBytes != tt.wantDisk {
			t.Errorf("--memory %q --disk-size %q = %d MiB, %d bytes, %v; want %d MiB, %d bytes",
				tt.memory, tt.disk, req.MemoryMiB, req.DiskBytes, err, tt.wantMiB, tt.wantDisk)
		}
	}
}

// FuzzCreateFlagSizes: whatever --memory and --disk-size say, the request
// carries exactly the sizes they parse to, or the flags are refused.
func FuzzCreateFlagSizes(f *testing.F) {
	for _, s := range [][2]string{{"2G", "8G"}, {"17592186044672M", ""}, {"16383.99999T", "1.5G"}, {"8388607T", "9223372036854775807"}, {"1e3", "0x10"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, memory, disk string) {
		c := createFlags{memory: memory, disk: disk, vcpuSet: func() bool { return false }}
		req, err := c.request()
		if err != nil {
			return
		}
		if memory != "" {
			n, perr := bytesize.Parse(memory)
			if perr != nil || req.MemoryMiB <= 0 || int64(req.MemoryMiB) != n>>20 || n%bytesize.MiB != 0 {
				t.Fatalf("--memory %q gave memory_mib %d (parse %d, %v)", memory, req.MemoryMiB, n, perr)
			}
		}
		if disk != "" {
			n, perr := bytesize.Parse(disk)
			if perr != nil || req.DiskBytes <= 0 || req.DiskBytes != n {
				t.Fatalf("--disk-size %q gave disk_bytes %d (parse %d, %v)", disk, req.DiskBytes, n, perr)
			}
		}
	})
}

// TestCreateFlagsFromSnapshot: --from-snapshot goes into the request, and
// a shape flag beside it is refused before anything is asked of the daemon.
func TestCreateFlagsFromSnapshot(t *testing.T) {
	c := createFlags{fromSnapshot: "s1", netGroup: "team", vcpuSet: func() bool { return false }}
	req, err := c.request()
	if err != nil || req.FromSnapshot != "s1" || req.NetGroup != "team" {
		t.Errorf("request = %+v, %v; want from_snapshot s1 in net group team", req, err)
	}
	for name, c := range map[string]createFlags{
		"image":  {fromSnapshot: "s1", image: "debian", vcpuSet: func() bool { return false }},
		"vcpu":   {fromSnapshot: "s1", vcpus: 2, vcpuSet: func() bool { return true }},
		"memory": {fromSnapshot: "s1", memory: "1G", vcpuSet: func() bool { return false }},
		"disk":   {fromSnapshot: "s1", disk: "8G", vcpuSet: func() bool { return false }},
	} {
		if _, err := c.request(); err == nil || !strings.Contains(err.Error(), "--from-snapshot") {
			t.Errorf("--from-snapshot with --%s: %v, want a refusal naming --from-snapshot", name, err)
		}
	}
}

// createDaemon answers image pulls (a reference with an upper-case
// letter is refused as the daemon refuses it) and VM creates, and
// records both.
type createDaemon struct {
	mu      sync.Mutex
	pulls   []api.PullImageRequest
	creates []api.CreateVMRequest
}

func (f *createDaemon) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	w.Header().Set("Content-Type", api.NDJSON)
	enc := json.NewEncoder(w)
	switch r.Method + " " + r.URL.Path {
	case "POST /v1/images/pull":
		var req api.PullImageRequest
		_ = json.NewDecoder(r.Body).Decode(&req)
		f.pulls = append(f.pulls, req)
		if strings.ToLower(req.Ref) != req.Ref {
			_ = enc.Encode(api.Event{Type: api.EventError, Error: &api.Error{Code: "invalid_argument",
				Message: fmt.Sprintf("%q is not an image reference (like debian:12, ghcr.io/owner/image:tag or image@sha256:…)", req.Ref)}})
			return
		}
		_ = enc.Encode(api.Event{Type: api.EventStep, Kind: "image.pull", Step: "download layers", Index: 1, Total: 3,
			Current: 10, TotalUnits: 20, Unit: api.UnitBytes, Fraction: 0.5})
		_ = enc.Encode(api.Event{Type: api.EventResult, Result: json.RawMessage(`{"name":"busy-1","state":"ready"}`)})
	case "POST /v1/vms":
		var req api.CreateVMRequest
		_ = json.NewDecoder(r.Body).Decode(&req)
		f.creates = append(f.creates, req)
		_ = enc.Encode(api.Event{Type: api.EventResult, VM: &api.VM{Name: req.Name, Image: req.Image, State: "stopped"}})
	default:
		http.Error(w, "unexpected "+r.Method+" "+r.URL.Path, http.StatusNotFound)
	}
}

// TestCreateImageRef: vm create --image REF pulls the reference once (on
// first use: if_missing) before creating every named VM from the image
// the pull names, with the pull's progress on stderr; a bad reference
// fails with the daemon's error before any create; an image name is not
// pulled.
func TestCreateImageRef(t *testing.T) {
	run := func(f *createDaemon, args ...string) (string, error) {
		var stdout, stderr bytes.Buffer
		a := &app{env: Env{Stdout: &stdout, Stderr: &stderr}, cl: serveFakeHandler(t, f)}
		cmd := a.vmCreateCommand()
		quietCobra(cmd)
		cmd.SetArgs(args)
		err := cmd.ExecuteContext(context.Background())
		return stderr.String(), err
	}

	f := &createDaemon{}
	stderr, err := run(f, "a", "b", "--image", "127.0.0.1:5000/busy:1")
	if err != nil {
		t.Fatalf("vm create --image REF: %v\n%s", err, stderr)
	}
	if diff := cmp.Diff([]api.PullImageRequest{{Ref: "127.0.0.1:5000/busy:1", IfMissing: true}}, f.pulls); diff != "" {
		t.Errorf("pulls (-want +got):\n%s", diff)
	}
	var images []string
	for _, c := range f.creates {
		images = append(images, c.Name+"="+c.Image)
	}
	sort.Strings(images)
	if diff := cmp.Diff([]string{"a=busy-1", "b=busy-1"}, images); diff != "" {
		t.Errorf("creates (-want +got):\n%s", diff)
	}
	if !strings.Contains(stderr, "download layers") {
		t.Errorf("stderr shows no pull progress: %q", stderr)
	}

	f = &createDaemon{}
	_, err = run(f, "c", "--image", "Busy:1")
	if err == nil || !strings.Contains(err.Error(), `pull Busy:1: "Busy:1" is not an image reference`) {
		t.Errorf("vm create --image Busy:1 = %v, want the bad reference named", err)
	}
	if len(f.creates) != 0 {
		t.Errorf("a bad reference still created %+v", f.creates)
	}

	f = &createDaemon{}
	if _, err := run(f, "d", "--image", "busy-1"); err != nil {
		t.Fatalf("vm create --image busy-1: %v", err)
	}
	if len(f.pulls) != 0 || len(f.creates) != 1 || f.creates[0].Image != "busy-1" {
		t.Errorf("vm create --image busy-1: pulls %+v, creates %+v; want no pull, one create of busy-1", f.pulls, f.creates)
	}
}
