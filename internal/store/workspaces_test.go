package store

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"banger/internal/errdefs"
)

// TestWorkspacesAreReplacedAndGoWithTheVM: a VM has at most one
// workspace, a new one replaces it, and deleting the VM removes it.
func TestWorkspacesAreReplacedAndGoWithTheVM(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	img := mustCreateImage(t, s, 1)
	v := mustCreateVM(t, s, 1, img.ID)
	if _, err := s.GetWorkspace(ctx, v.ID); !errdefs.Is(err, errdefs.NotFound) {
		t.Fatalf("GetWorkspace before any: %v, want not_found", err)
	}
	w := Workspace{VMID: v.ID, HostPath: "/home/u/src/app", GuestPath: "/root/app", BaseCommit: "abc123", Branch: "main", PreparedAt: t0}
	if err := s.SetWorkspace(ctx, w); err != nil {
		t.Fatal(err)
	}
	w.GuestPath, w.BaseCommit, w.Branch = "/root/other", "def456", ""
	if err := s.SetWorkspace(ctx, w); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetWorkspace(ctx, v.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(w, got); diff != "" {
		t.Errorf("workspace (-want +got):\n%s", diff)
	}
	all, err := s.ListWorkspaces(ctx)
	if err != nil || len(all) != 1 {
		t.Fatalf("ListWorkspaces: %v, %v", all, err)
	}
	if err := s.SetWorkspace(ctx, Workspace{VMID: hexID('b', 9), HostPath: "/x", GuestPath: "/y", BaseCommit: "z"}); !errdefs.Is(err, errdefs.NotFound) {
		t.Errorf("workspace of a missing VM: %v, want not_found", err)
	}
	if err := s.SetWorkspace(ctx, Workspace{VMID: v.ID}); !errdefs.Is(err, errdefs.InvalidArgument) {
		t.Errorf("empty workspace: %v, want invalid_argument", err)
	}
	if err := s.DeleteVM(ctx, v.ID); err != nil {
		t.Fatal(err)
	}
	if all, err := s.ListWorkspaces(ctx); err != nil || len(all) != 0 {
		t.Errorf("workspaces after the VM's delete: %v, %v", all, err)
	}
}
