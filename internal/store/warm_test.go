package store

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"banger/internal/errdefs"
)

// TestWarmSnapshots: a snapshot marked warm keeps its key until it is
// deleted; a key has one warm snapshot; only existing snapshots are marked.
func TestWarmSnapshots(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	img := testImage(1)
	if err := s.CreateImage(ctx, img); err != nil {
		t.Fatal(err)
	}
	mk := func(n int, name string) Snapshot {
		sn := Snapshot{ID: hexID('c', n), Name: name, State: "ready", VMID: hexID('b', 1), VMName: "w",
			ImageID: img.ID, Driver: "qemu", VCPUs: 1, MemoryMiB: 256, DiskBytes: 1 << 30, Dir: "/s/snapshots/" + name}
		if err := s.CreateSnapshot(ctx, sn); err != nil {
			t.Fatal(err)
		}
		return sn
	}
	a, b := mk(1, "a"), mk(2, "b")
	keyA, keyB := strings.Repeat("a", 64), strings.Repeat("b", 64)
	if err := s.MarkWarm(ctx, a.ID, keyA); err != nil {
		t.Fatalf("MarkWarm: %v", err)
	}
	if err := s.MarkWarm(ctx, b.ID, keyA); !errdefs.Is(err, errdefs.AlreadyExists) {
		t.Errorf("a second warm snapshot for one key = %v, want already_exists", err)
	}
	if err := s.MarkWarm(ctx, hexID('c', 9), keyB); !errdefs.Is(err, errdefs.NotFound) {
		t.Errorf("marking a missing snapshot = %v, want not_found", err)
	}
	if err := s.MarkWarm(ctx, b.ID, "not-a-key"); err == nil {
		t.Error("a malformed key was stored")
	}
	if err := s.MarkWarm(ctx, b.ID, keyB); err != nil {
		t.Fatal(err)
	}
	got, err := s.WarmKeys(ctx)
	if diff := cmp.Diff(map[string]string{a.ID: keyA, b.ID: keyB}, got); err != nil || diff != "" {
		t.Errorf("WarmKeys (-want +got):\n%s (err %v)", diff, err)
	}
	if err := s.DeleteSnapshot(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	got, err = s.WarmKeys(ctx)
	if diff := cmp.Diff(map[string]string{b.ID: keyB}, got); err != nil || diff != "" {
		t.Errorf("WarmKeys after deleting a (-want +got):\n%s (err %v)", diff, err)
	}
}
