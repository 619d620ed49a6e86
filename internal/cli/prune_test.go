package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"banger/internal/api"
)

// pruneDaemon is a fake daemon with prunable things: it removes them
// only on a request that is not a dry run, and remembers the requests.
type pruneDaemon struct {
	mu       sync.Mutex
	requests []string // "POST /v1/images/prune dry_run=true"
	images   []api.PrunedItem
	vms      []api.PrunedItem
	layers   []api.PrunedItem
	snaps    []api.PrunedItem
}

func (p *pruneDaemon) serve(t *testing.T) string {
	t.Helper()
	sock := filepath.Join(shortTemp(t), "bangerd.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/system/info", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("{}")) })
	handle := func(list *[]api.PrunedItem, stream bool) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			var req api.PruneRequest
			if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
				t.Errorf("prune body: %v", err)
			}
			p.mu.Lock()
			p.requests = append(p.requests, r.Method+" "+r.URL.Path+" dry_run="+map[bool]string{true: "true", false: "false"}[req.DryRun])
			reply := api.PruneReply{DryRun: req.DryRun, Removed: append([]api.PrunedItem{}, *list...)}
			for _, it := range *list {
				reply.Reclaimed += it.Allocated
			}
			if !req.DryRun {
				*list = nil
			}
			p.mu.Unlock()
			if !stream {
				json.NewEncoder(w).Encode(reply)
				return
			}
			w.Header().Set("Content-Type", api.NDJSON)
			b, _ := json.Marshal(reply)
			json.NewEncoder(w).Encode(api.Event{Type: api.EventResult, Result: b})
		}
	}
	mux.HandleFunc("POST /v1/images/prune", handle(&p.images, false))
	mux.HandleFunc("POST /v1/vms/prune", handle(&p.vms, true))
	mux.HandleFunc("POST /v1/images/cache/prune", handle(&p.layers, false))
	mux.HandleFunc("POST /v1/snapshots/prune", handle(&p.snaps, true))
	mux.HandleFunc("GET /v1/system/df", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(sampleDiskUsage)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("fake daemon: unexpected %s %s", r.Method, r.URL)
		http.NotFound(w, r)
	})
	srv := httptest.NewUnstartedServer(mux)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return sock
}

func runWith(sock, stdin string, args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	env := Env{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }}
	code := Run(context.Background(), append([]string{"--socket", sock}, args...), env)
	return code, out.String(), errb.String()
}

func TestPrune(t *testing.T) {
	p := &pruneDaemon{
		images: []api.PrunedItem{{ID: "1", Name: "old", Allocated: 300 << 20}},
		vms:    []api.PrunedItem{{ID: "2", Name: "idle", Allocated: 5 << 20}, {ID: "3", Name: "done", Allocated: 1 << 20}},
		layers: []api.PrunedItem{{ID: "sha256:bb", Name: "bbbbbbbbbbbb", Allocated: 10 << 20}},
		snaps:  []api.PrunedItem{{ID: "4", Name: "s1", Allocated: 2 << 20}},
	}
	sock := p.serve(t)

	// Standard input is not a terminal: without -f nothing is asked or removed.
	code, out, errOut := runWith(sock, "y\n", "image", "prune")
	if code == 0 || !strings.Contains(errOut, "standard input is not a terminal: pass -f") || out != "" {
		t.Errorf("image prune without a terminal: exit %d, stdout %q, stderr %q", code, out, errOut)
	}

	code, out, _ = runWith(sock, "", "image", "prune", "--dry-run")
	if want := "would remove image old (300MiB)\nwould remove 1 image, 300MiB on disk\n"; code != 0 || out != want {
		t.Errorf("image prune --dry-run: exit %d, stdout %q, want %q", code, out, want)
	}
	// --dry-run wins over -f.
	runWith(sock, "", "vm", "prune", "--dry-run", "-f")

	code, out, _ = runWith(sock, "", "image", "prune", "-f")
	if want := "removed image old (300MiB)\nremoved 1 image, 300MiB on disk\n"; code != 0 || out != want {
		t.Errorf("image prune -f: exit %d, stdout %q, want %q", code, out, want)
	}
	code, out, _ = runWith(sock, "", "vm", "prune", "--force", "--json")
	var reply api.PruneReply
	if err := json.Unmarshal([]byte(out), &reply); code != 0 || err != nil || len(reply.Removed) != 2 || reply.Reclaimed != 6<<20 {
		t.Errorf("vm prune --force --json: exit %d, %q (%v)", code, out, err)
	}
	code, out, _ = runWith(sock, "", "vm", "prune", "-f")
	if want := "no VMs to remove\n"; code != 0 || out != want {
		t.Errorf("second vm prune: exit %d, stdout %q, want %q", code, out, want)
	}

	code, out, _ = runWith(sock, "", "image", "cache", "prune", "-f")
	if want := "removed layer bbbbbbbbbbbb (10MiB)\nremoved 1 layer, 10MiB on disk\n"; code != 0 || out != want {
		t.Errorf("image cache prune -f: exit %d, stdout %q, want %q", code, out, want)
	}
	code, out, _ = runWith(sock, "", "snapshot", "prune", "--dry-run")
	if want := "would remove snapshot s1 (2MiB)\nwould remove 1 snapshot, 2MiB on disk\n"; code != 0 || out != want {
		t.Errorf("snapshot prune --dry-run: exit %d, stdout %q, want %q", code, out, want)
	}
	code, out, _ = runWith(sock, "", "snapshot", "prune", "-f")
	if want := "removed snapshot s1 (2MiB)\nremoved 1 snapshot, 2MiB on disk\n"; code != 0 || out != want {
		t.Errorf("snapshot prune -f: exit %d, stdout %q, want %q", code, out, want)
	}

	want := []string{
		"POST /v1/images/prune dry_run=true",
		"POST /v1/vms/prune dry_run=true",
		"POST /v1/images/prune dry_run=false",
		"POST /v1/vms/prune dry_run=false",
		"POST /v1/vms/prune dry_run=false",
		"POST /v1/images/cache/prune dry_run=false",
		"POST /v1/snapshots/prune dry_run=true",
		"POST /v1/snapshots/prune dry_run=false",
	}
	if diff := cmp.Diff(want, p.requests); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}

var sampleDiskUsage = api.DiskUsage{
	Filesystems: []api.FilesystemSpace{
		{Dir: "state", Path: "/home/u/.local/state/banger", Available: 40 << 30, Total: 100 << 30},
		{Dir: "cache", Path: "/home/u/.cache/banger", Available: 40 << 30, Total: 100 << 30},
	},
	Categories: []api.SpaceCategory{
		{Name: api.SpaceImages, Count: 2, Apparent: 3 << 30, Allocated: 900 << 20, Shared: 400 << 20, Reclaimable: 450 << 20, ReclaimCommand: "banger image prune",
			Items: []api.SpaceItem{
				{Name: "default", Path: "/s/images/ab", Apparent: 1536 << 20, Allocated: 450 << 20, Shared: 400 << 20, InUse: true, Detail: "built"},
				{Name: "old", Path: "/s/images/cd", Apparent: 1536 << 20, Allocated: 450 << 20, Reclaimable: true, Detail: "built"},
			}},
		{Name: api.SpaceLayers, Count: 2, Apparent: 30 << 20, Allocated: 30 << 20, Reclaimable: 10 << 20, ReclaimCommand: "banger image cache prune",
			Items: []api.SpaceItem{
				{Name: "aaaaaaaaaaaa", Path: "/c/oci/blobs/sha256/aa", Apparent: 20 << 20, Allocated: 20 << 20, InUse: true, Detail: "sha256:aa"},
				{Name: "bbbbbbbbbbbb", Path: "/c/oci/blobs/sha256/bb", Apparent: 10 << 20, Allocated: 10 << 20, Reclaimable: true, Detail: "sha256:bb"},
			}},
		{Name: api.SpaceKernels, Count: 1, Apparent: 40 << 20, Allocated: 40 << 20, ReclaimCommand: "banger kernel rm",
			Items: []api.SpaceItem{{Name: "default", Path: "/s/kernels/1", Apparent: 40 << 20, Allocated: 40 << 20, InUse: true, Detail: "6.1.0"}}},
		{Name: api.SpaceVMDisks, Count: 1, Apparent: 10 << 30, Allocated: 500 << 20, Shared: 400 << 20, Reclaimable: 100 << 20, ReclaimCommand: "banger vm prune",
			Items: []api.SpaceItem{{Name: "idle", Path: "/s/vms/2", Apparent: 10 << 30, Allocated: 500 << 20, Shared: 400 << 20, Reclaimable: true, Detail: "stopped"}}},
		{Name: api.SpaceSnapshots, Count: 1, Apparent: 1 << 30, Allocated: 200 << 20, Reclaimable: 200 << 20, ReclaimCommand: "banger snapshot prune",
			Items: []api.SpaceItem{{Name: "s1", Path: "/s/snapshots/3", Apparent: 1 << 30, Allocated: 200 << 20, Reclaimable: true, Detail: "of VM idle"}}},
		{Name: api.SpaceCaches, Count: 1, Apparent: 2 << 30, Allocated: 2 << 30,
			Items: []api.SpaceItem{{Name: "kernel-build", Path: "/c/kernel-build", Apparent: 2 << 30, Allocated: 2 << 30}}},
		{Name: "future_kind", Items: []api.SpaceItem{}},
	},
	Total: api.SpaceTotal{Apparent: 15<<30 + 70<<20, Allocated: 3<<30 + 446<<20, Shared: 800 << 20, OnDisk: 3<<30 + 46<<20},
}

func TestSystemDF(t *testing.T) {
	sock := (&pruneDaemon{}).serve(t)
	code, out, errOut := runWith(sock, "", "system", "df")
	if code != 0 {
		t.Fatalf("system df: exit %d: %s", code, errOut)
	}
	golden(t, "system-df.txt", []byte(out))
	code, out, _ = runWith(sock, "", "system", "df", "-v")
	if code != 0 {
		t.Fatalf("system df -v: exit %d", code)
	}
	golden(t, "system-df-v.txt", []byte(out))
	code, out, _ = runWith(sock, "", "system", "df", "--json")
	var got api.DiskUsage
	if err := json.Unmarshal([]byte(out), &got); code != 0 || err != nil {
		t.Fatalf("system df --json: exit %d, %v", code, err)
	}
	if diff := cmp.Diff(sampleDiskUsage, got); diff != "" {
		t.Errorf("--json (-want +got):\n%s", diff)
	}
}

func TestConfirm(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want bool
	}{{"y\n", true}, {"YES\n", true}, {" yes \n", true}, {"n\n", false}, {"\n", false}, {"", false}, {"yep\n", false}} {
		var errb bytes.Buffer
		a := &app{env: Env{Stdin: strings.NewReader(tt.in), Stderr: &errb}}
		if got := a.confirm("Remove these 2 VMs? [y/N] "); got != tt.want {
			t.Errorf("confirm(%q) = %v, want %v", tt.in, got, tt.want)
		}
		if errb.String() != "Remove these 2 VMs? [y/N] " {
			t.Errorf("the question went to stderr as %q", errb.String())
		}
	}
}
