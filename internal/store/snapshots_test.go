package store

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"banger/internal/errdefs"
)

func TestSnapshotCRUD(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	img := testImage(1)
	if err := s.CreateImage(ctx, img); err != nil {
		t.Fatal(err)
	}
	sn := Snapshot{ID: hexID('c', 1), Name: "s1", State: "creating", VMID: hexID('b', 1), VMName: "dev",
		ImageID: img.ID, Driver: "qemu", VCPUs: 2, MemoryMiB: 512, DiskBytes: 1 << 30, Dir: "/s/snapshots/1",
		CreatedAt: time.Unix(100, 0).UTC(), AgentToken: "guest-token", Auto: true}
	if err := s.CreateSnapshot(ctx, sn); err != nil {
		t.Fatalf("CreateSnapshot: %v", err)
	}
	dup := sn
	dup.ID = hexID('c', 2)
	if err := s.CreateSnapshot(ctx, dup); !errdefs.Is(err, errdefs.AlreadyExists) {
		t.Errorf("second snapshot named s1 = %v, want already_exists", err)
	}
	sn.State, sn.SizeBytes = "ready", 4096
	if err := s.UpdateSnapshot(ctx, sn); err != nil {
		t.Fatalf("UpdateSnapshot: %v", err)
	}
	for _, ref := range []string{sn.ID, "s1"} {
		got, err := s.GetSnapshot(ctx, ref)
		if err != nil {
			t.Fatalf("GetSnapshot(%s): %v", ref, err)
		}
		if diff := cmp.Diff(sn, got); diff != "" {
			t.Errorf("GetSnapshot(%s) (-want +got):\n%s", ref, diff)
		}
	}
	if err := s.DeleteImage(ctx, img.ID); err == nil {
		t.Error("the image of a snapshot was deleted")
	}
	list, err := s.ListSnapshots(ctx)
	if err != nil || len(list) != 1 {
		t.Fatalf("ListSnapshots = %v, %v", list, err)
	}
	bad := sn
	bad.ID, bad.Name, bad.State = hexID('c', 3), "s3", "half"
	if err := s.CreateSnapshot(ctx, bad); !errdefs.Is(err, errdefs.InvalidArgument) {
		t.Errorf("snapshot in state half = %v, want invalid_argument", err)
	}
	if err := s.DeleteSnapshot(ctx, sn.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetSnapshot(ctx, "s1"); !errdefs.Is(err, errdefs.NotFound) {
		t.Errorf("GetSnapshot after delete = %v, want not_found", err)
	}
	if err := s.DeleteSnapshot(ctx, sn.ID); !errdefs.Is(err, errdefs.NotFound) {
		t.Errorf("second DeleteSnapshot = %v, want not_found", err)
	}
}
