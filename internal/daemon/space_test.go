package daemon

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"banger/internal/api"
)

func TestDiskUsageAndPrune(t *testing.T) {
	td := startDaemon(t, daemonOpts{})
	td.registerImage("default")
	spare := td.registerImage("spare")
	used := td.registerImage("used")
	for _, req := range []string{smallVM("idle", used.Name, false), smallVM("busy", used.Name, true)} {
		if resp, body := td.do("POST", "/v1/vms", req); resp.StatusCode != http.StatusCreated {
			t.Fatalf("create: %d %s", resp.StatusCode, body)
		}
	}

	du := td.df()
	var names []string
	for _, c := range du.Categories {
		names = append(names, c.Name)
	}
	if diff := cmp.Diff([]string{api.SpaceImages, api.SpaceLayers, api.SpaceKernels, api.SpaceVMDisks, api.SpaceSnapshots, api.SpaceCaches}, names); diff != "" {
		t.Errorf("categories (-want +got):\n%s", diff)
	}
	if len(du.Filesystems) != 2 || du.Filesystems[0].Path != td.layout.StateDir || du.Filesystems[0].Available <= 0 {
		t.Errorf("filesystems = %+v", du.Filesystems)
	}
	imgs := category(t, du, api.SpaceImages)
	if imgs.Count != 3 || imgs.Reclaimable != 0 {
		t.Errorf("images: count %d reclaimable %d, want 3 registered images and nothing reclaimable (their files are the user's)", imgs.Count, imgs.Reclaimable)
	}
	if it := item(t, imgs, "spare"); it.InUse || it.Reclaimable || it.Apparent != 16<<20 || it.Allocated <= 0 || it.Path != spare.RootFS {
		t.Errorf("spare image item = %+v", it)
	}
	if it := item(t, imgs, "default"); !it.InUse {
		t.Errorf("the default image is not counted in use (image prune keeps it): %+v", it)
	}
	disks := category(t, du, api.SpaceVMDisks)
	idle, busy := item(t, disks, "idle"), item(t, disks, "busy")
	if !idle.Reclaimable || idle.InUse || busy.Reclaimable || !busy.InUse {
		t.Errorf("VM items: idle %+v, busy %+v; want only the stopped one reclaimable", idle, busy)
	}
	// Root disk 16 MiB and work disk 256 MiB, both sparse.
	if idle.Apparent < 16<<20+256<<20 || idle.Allocated <= 0 || idle.Allocated >= idle.Apparent {
		t.Errorf("idle VM's disks: apparent %d allocated %d", idle.Apparent, idle.Allocated)
	}
	if disks.Count != 2 || disks.Reclaimable != idle.Allocated || disks.Allocated != idle.Allocated+busy.Allocated {
		t.Errorf("vm_disks totals = %+v", disks)
	}
	if caches := category(t, du, api.SpaceCaches); caches.Count == 0 || caches.Allocated <= 0 {
		t.Errorf("caches = %+v, want the work disk template counted", caches)
	}

	// Image prune: a dry run lists, then the real one removes the
	// unused registered image's record and leaves its file.
	for _, dry := range []bool{true, false} {
		got := td.prune("/v1/images/prune", dry)
		if diff := cmp.Diff([]string{"spare"}, prunedNames(got)); diff != "" || got.DryRun != dry || got.Reclaimed != 0 {
			t.Errorf("image prune (dry run %v) = %+v (-want +got names):\n%s", dry, got, diff)
		}
	}
	var list []api.Image
	_, body := td.do("GET", "/v1/images", "")
	decodeStrict(t, body, &list)
	if len(list) != 2 {
		t.Errorf("images after prune: %+v", list)
	}
	if _, err := os.Stat(spare.RootFS); err != nil {
		t.Errorf("prune deleted the registered image's host file: %v", err)
	}

	// VM prune: only the stopped VM goes.
	if got := td.prune("/v1/vms/prune", true); !cmp.Equal(prunedNames(got), []string{"idle"}) {
		t.Errorf("vm prune dry run = %+v", got)
	}
	got := td.prune("/v1/vms/prune", false)
	if !cmp.Equal(prunedNames(got), []string{"idle"}) || got.Reclaimed != idle.Allocated {
		t.Errorf("vm prune = %+v, want idle reclaiming %d bytes", got, idle.Allocated)
	}
	var vms []api.VM
	_, body = td.do("GET", "/v1/vms", "")
	decodeStrict(t, body, &vms)
	if len(vms) != 1 || vms[0].Name != "busy" || vms[0].State != "running" {
		t.Errorf("VMs after prune: %+v", vms)
	}
	if _, err := os.Stat(idle.Path); !os.IsNotExist(err) {
		t.Errorf("the pruned VM's directory is still there (err %v)", err)
	}
	// The image the running VM uses and the default image stay.
	if got := td.prune("/v1/images/prune", false); len(got.Removed) != 0 {
		t.Errorf("second image prune removed %+v", got.Removed)
	}

	// A layer blob no image lists (as a failed pull leaves) is counted as
	// reclaimable, and image cache prune removes it.
	blob := filepath.Join(td.layout.CacheDir, "oci", "blobs", "sha256", strings.Repeat("ab", 32))
	if err := os.MkdirAll(filepath.Dir(blob), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(blob, make([]byte, 1<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	layers := category(t, td.df(), api.SpaceLayers)
	if it := item(t, layers, "abababababab"); !it.Reclaimable || it.InUse || it.Apparent != 1<<20 || layers.Reclaimable != it.Allocated {
		t.Errorf("layers = %+v", layers)
	}
	for _, c := range td.df().Categories {
		for _, it := range c.Items {
			if c.Name == api.SpaceCaches && it.Name == "oci" {
				t.Errorf("the layer cache is counted twice, as a cache too")
			}
		}
	}
	if got := td.prune("/v1/images/cache/prune", true); !cmp.Equal(prunedNames(got), []string{"abababababab"}) {
		t.Errorf("layer prune dry run = %+v", got)
	}
	got = td.prune("/v1/images/cache/prune", false)
	if !cmp.Equal(prunedNames(got), []string{"abababababab"}) || got.Reclaimed != layers.Reclaimable {
		t.Errorf("layer prune = %+v", got)
	}
	if _, err := os.Stat(blob); !os.IsNotExist(err) {
		t.Errorf("the unused layer is still cached (err %v)", err)
	}
}

func (td *testDaemon) df() api.DiskUsage {
	td.t.Helper()
	resp, body := td.do("GET", "/v1/system/df", "")
	if resp.StatusCode != http.StatusOK {
		td.t.Fatalf("df: %d %s", resp.StatusCode, body)
	}
	var du api.DiskUsage
	decodeStrict(td.t, body, &du)
	return du
}

func (td *testDaemon) prune(path string, dry bool) api.PruneReply {
	td.t.Helper()
	b, _ := json.Marshal(api.PruneRequest{DryRun: dry})
	resp, body := td.do("POST", path, string(b))
	if resp.StatusCode != http.StatusOK {
		td.t.Fatalf("POST %s: %d %s", path, resp.StatusCode, body)
	}
	var r api.PruneReply
	decodeStrict(td.t, body, &r)
	return r
}

func prunedNames(r api.PruneReply) []string {
	out := []string{}
	for _, it := range r.Removed {
		out = append(out, it.Name)
	}
	sort.Strings(out)
	return out
}

func category(t *testing.T, du api.DiskUsage, name string) api.SpaceCategory {
	t.Helper()
	for _, c := range du.Categories {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no category %s in %+v", name, du)
	return api.SpaceCategory{}
}

func item(t *testing.T, c api.SpaceCategory, name string) api.SpaceItem {
	t.Helper()
	for _, it := range c.Items {
		if it.Name == name {
			return it
		}
	}
	t.Fatalf("no item %s in category %s: %+v", name, c.Name, c.Items)
	return api.SpaceItem{}
}

// TestSnapshotSpaceAndPrune: a snapshot is its own df category, apparent
// and allocated, reclaimable while no VM uses it, and snapshot prune
// removes it (a dry run first only lists it).
func TestSnapshotSpaceAndPrune(t *testing.T) {
	td := startDaemon(t, daemonOpts{})
	td.registerImage("default")
	if resp, body := td.do("POST", "/v1/vms", smallVM("busy", "default", true)); resp.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d %s", resp.StatusCode, body)
	}
	if resp, body := td.do("POST", "/v1/vms/busy/snapshot", `{"name":"s1"}`); resp.StatusCode != http.StatusCreated {
		t.Fatalf("snapshot: %d %s", resp.StatusCode, body)
	}
	snaps := category(t, td.df(), api.SpaceSnapshots)
	s1 := item(t, snaps, "s1")
	// The disk copies are sparse: 16 MiB root and 256 MiB work disk.
	if s1.Apparent < 16<<20+256<<20 || s1.Allocated <= 0 || s1.Allocated >= s1.Apparent || !s1.Reclaimable || s1.InUse {
		t.Errorf("snapshot item = %+v", s1)
	}
	if snaps.Count != 1 || snaps.Reclaimable != s1.Allocated || snaps.ReclaimCommand != "banger snapshot prune" {
		t.Errorf("snapshots category = %+v", snaps)
	}
	if got := td.prune("/v1/snapshots/prune", true); !cmp.Equal(prunedNames(got), []string{"s1"}) || !got.DryRun {
		t.Errorf("snapshot prune dry run = %+v", got)
	}
	if _, err := os.Stat(s1.Path); err != nil {
		t.Fatalf("the dry run removed the snapshot: %v", err)
	}
	got := td.prune("/v1/snapshots/prune", false)
	if !cmp.Equal(prunedNames(got), []string{"s1"}) || got.Reclaimed != s1.Allocated {
		t.Errorf("snapshot prune = %+v, want s1 reclaiming %d bytes", got, s1.Allocated)
	}
	if _, err := os.Stat(s1.Path); !os.IsNotExist(err) {
		t.Errorf("the pruned snapshot's directory is still there (err %v)", err)
	}
	if c := category(t, td.df(), api.SpaceSnapshots); c.Count != 0 || c.Allocated != 0 {
		t.Errorf("snapshots after prune = %+v", c)
	}
}
