package disk

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"banger/internal/disk/disktest"
	"banger/internal/peercred/peercredtest"
	"banger/internal/testtier"
)

// writeSynced writes b at off in the file at path and flushes it, so
// that its blocks are allocated (not delayed) when FIEMAP looks.
func writeSynced(t *testing.T, path string, b []byte, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
}

// TestUsageSharedXFS: on an XFS loop file, an image of 16 MiB and its
// reflink clone with 1 MiB rewritten each report 15 MiB shared (FIEMAP's
// shared extents), and measured together they take their exclusive
// blocks plus the shared 15 MiB once, not the 32 MiB their allocated
// blocks add up to.
func TestUsageSharedXFS(t *testing.T) {
	testtier.Root(t) // a loop device and a mount
	mnt := disktest.SmallXFS(t, 512<<20)
	img, vmDir := filepath.Join(mnt, "images", "root.img"), filepath.Join(mnt, "vms", "a")
	for _, d := range []string{filepath.Dir(img), vmDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	data := make([]byte, 16<<20)
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	writeSynced(t, img, data, 0)
	clone := filepath.Join(vmDir, "root.img")
	if err := CloneFile(context.Background(), img, clone); err != nil {
		t.Fatal(err)
	}
	own := make([]byte, 1<<20)
	if _, err := rand.Read(own); err != nil {
		t.Fatal(err)
	}
	writeSynced(t, clone, own, 4<<20)

	const shared = 15 << 20
	m := NewMeter()
	iu, err := m.Measure(filepath.Dir(img))
	if err != nil {
		t.Fatal(err)
	}
	cu, err := m.Measure(vmDir)
	if err != nil {
		t.Fatal(err)
	}
	if iu.Allocated != 16<<20 || iu.Shared != shared || iu.Exclusive() != 1<<20 || iu.OnDisk != iu.Allocated {
		t.Errorf("image usage = %+v, want 16 MiB allocated, 15 MiB of it shared", iu)
	}
	if cu.Allocated < 16<<20 || cu.Shared != shared {
		t.Errorf("clone usage = %+v, want at least 16 MiB allocated, 15 MiB of it shared", cu)
	}
	total := m.Total()
	if total.Allocated != iu.Allocated+cu.Allocated || total.Shared != 2*shared || total.Files != 2 {
		t.Errorf("total = %+v, want the two files' allocated and shared bytes summed", total)
	}
	if want := iu.Exclusive() + cu.Exclusive() + shared; total.OnDisk != want {
		t.Errorf("total on disk = %d, want %d: the exclusive blocks plus the shared 15 MiB once (allocated adds up to %d)", total.OnDisk, want, total.Allocated)
	}
	// Measured again, a path already counted adds nothing to the total.
	if _, err := m.Measure(vmDir); err != nil {
		t.Fatal(err)
	}
	if again := m.Total(); again != total {
		t.Errorf("total after measuring the clone twice = %+v, want %+v", again, total)
	}
}

// TestMergedLength: overlapping and touching ranges count each byte once.
func TestMergedLength(t *testing.T) {
	for _, tt := range []struct {
		rs   []physRange
		want int64
	}{
		{nil, 0},
		{[]physRange{{0, 10}}, 10},
		{[]physRange{{0, 10}, {0, 10}}, 10},
		{[]physRange{{20, 30}, {0, 10}, {5, 25}}, 30},
		{[]physRange{{0, 10}, {10, 20}, {40, 50}}, 30},
		{[]physRange{{0, 100}, {10, 20}, {30, 40}}, 100},
	} {
		if got := mergedLength(tt.rs); got != tt.want {
			t.Errorf("mergedLength(%v) = %d, want %d", tt.rs, got, tt.want)
		}
	}
}

// usagePathEnv names the tree TestHelperUsage measures.
const usagePathEnv = "BANGER_TEST_USAGE_PATH"

// TestHelperUsage measures the tree named by usagePathEnv and prints the
// result; TestUsageUnreadable runs it as another uid.
func TestHelperUsage(t *testing.T) {
	path := os.Getenv(usagePathEnv)
	if path == "" {
		t.Skip("helper process for TestUsageUnreadable; runs only when re-executed with " + usagePathEnv)
	}
	u, err := UsageOf(path)
	fmt.Printf("RESULT files=%d apparent=%d allocated=%t err=%v\n", u.Files, u.Apparent, u.Allocated > 0, err)
}

// TestUsageUnreadable: a daemon measuring a tree with a file it may not
// open (a rootless build's file of another id, mode 0600) counts it from
// stat as before and finds nothing shared in it, rather than failing.
func TestUsageUnreadable(t *testing.T) {
	testtier.Root(t) // runs a helper as uid 65534
	dir, err := os.MkdirTemp("", "bgusage")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	tree := filepath.Join(dir, "tree")
	if err := os.Mkdir(tree, 0o755); err != nil {
		t.Fatal(err)
	}
	writeSynced(t, filepath.Join(tree, "secret"), make([]byte, 64<<10), 0) // 0600, root's
	if err := os.WriteFile(filepath.Join(tree, "open"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := peercredtest.Binary(t, dir)
	got := peercredtest.RunAs(t, bin, dir, "TestHelperUsage", 65534, usagePathEnv+"="+tree)
	if want := fmt.Sprintf("files=2 apparent=%d allocated=true err=<nil>", 64<<10+1); got != want {
		t.Errorf("UsageOf as uid 65534: %s, want %s", got, want)
	}
}
