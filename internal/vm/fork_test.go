package vm

import (
	"context"
	"errors"
	"strings"
	"testing"

	"banger/internal/errdefs"
)

func TestFork(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, envOpts{})
	e.create("src")
	e.start("src")
	copies, err := e.svc.Fork(ctx, "op-fork", "src", ForkRequest{Name: "f", Count: 3}, nil)
	if err != nil {
		t.Fatalf("Fork: %v", err)
	}
	var got []string
	for _, c := range copies {
		got = append(got, c.Name)
		if c.State != StateRunning || c.Snapshot != "src-fork-1" {
			t.Errorf("copy %s: %s from %q, want running from src-fork-1", c.Name, c.State, c.Snapshot)
		}
	}
	if strings.Join(got, " ") != "f-1 f-2 f-3" {
		t.Errorf("copies: %v", got)
	}
	sn, err := e.svc.GetSnapshot(ctx, "src-fork-1")
	if err != nil || !sn.Auto || sn.VM != "src" {
		t.Fatalf("fork snapshot = %+v, %v; want an automatic snapshot of src", sn, err)
	}
	if _, err := e.store.GetOperation(ctx, "op-fork-snapshot"); err != nil {
		t.Errorf("the fork's snapshot operation: %v", err)
	}
	if _, err := e.store.GetOperation(ctx, "op-fork-3"); err != nil {
		t.Errorf("the third copy's operation: %v", err)
	}
	// A second fork of src makes its own snapshot; one copy takes the
	// name as it is.
	one, err := e.svc.Fork(ctx, "", "src", ForkRequest{Name: "solo"}, nil)
	if err != nil || len(one) != 1 || one[0].Name != "solo" || one[0].Snapshot != "src-fork-2" {
		t.Fatalf("Fork of one = %+v, %v", one, err)
	}
	// The snapshot goes with its last VM.
	for _, name := range []string{"f-1", "f-2"} {
		if err := e.svc.Delete(ctx, "", name, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.svc.GetSnapshot(ctx, "src-fork-1"); err != nil {
		t.Errorf("fork snapshot gone while f-3 uses it: %v", err)
	}
	if err := e.svc.Delete(ctx, "", "f-3", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.GetSnapshot(ctx, "src-fork-1"); !errdefs.Is(err, errdefs.NotFound) {
		t.Errorf("fork snapshot after its last VM was deleted: %v, want not_found", err)
	}
	// A snapshot made by hand stays when its last VM goes.
	if _, err := e.svc.SnapshotVM(ctx, "", "src", "kept", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.CreateFromSnapshot(ctx, "", "kept", CreateRequest{Name: "k"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Delete(ctx, "", "k", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.GetSnapshot(ctx, "kept"); err != nil {
		t.Errorf("a named snapshot went with its last VM: %v", err)
	}
}

func TestForkRefusals(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, envOpts{})
	e.create("src")
	if _, err := e.svc.Fork(ctx, "", "src", ForkRequest{}, nil); !errdefs.Is(err, errdefs.FailedPrecondition) {
		t.Errorf("Fork of a stopped VM = %v, want failed_precondition", err)
	}
	e.start("src")
	for name, req := range map[string]ForkRequest{
		"count":      {Count: maxForks + 1},
		"negative":   {Count: -1},
		"bad name":   {Name: "Bad"},
		"taken name": {Name: "src"},
	} {
		if _, err := e.svc.Fork(ctx, "", "src", req, nil); err == nil {
			t.Errorf("%s: Fork(%+v) succeeded", name, req)
		}
	}
	if list, _ := e.svc.Snapshots(ctx); len(list) != 0 {
		t.Errorf("refused forks left snapshots: %+v", list)
	}
}

// TestForkFailureRemovesSnapshot: a fork whose first copy fails leaves
// neither a VM nor its snapshot; one whose later copy fails keeps the
// copies made and the snapshot they use.
func TestForkFailureRemovesSnapshot(t *testing.T) {
	ctx := context.Background()
	restores := 0
	e := newEnv(t, envOpts{hooks: Hooks{BeforeStep: func(kind, step string) error {
		if kind == restoreKind && step == "load-snapshot" {
			restores++
			if restores != 2 {
				return errors.New("injected failure")
			}
		}
		return nil
	}}})
	e.create("src")
	e.start("src")
	if _, err := e.svc.Fork(ctx, "", "src", ForkRequest{Count: 2}, nil); err == nil || !strings.Contains(err.Error(), "injected failure") {
		t.Fatalf("Fork = %v, want the injected failure", err)
	}
	assertOnlyVM(t, e, "src")
	if list, _ := e.svc.Snapshots(ctx); len(list) != 0 {
		t.Errorf("a fork that made no copy left snapshots: %+v", list)
	}
	copies, err := e.svc.Fork(ctx, "", "src", ForkRequest{Name: "g", Count: 2}, nil)
	if err == nil || len(copies) != 1 || copies[0].Name != "g-1" {
		t.Fatalf("Fork with the second copy failing = %+v, %v; want g-1 and an error", copies, err)
	}
	if list, _ := e.svc.Snapshots(ctx); len(list) != 1 {
		t.Errorf("snapshots after a partial fork: %+v, want the one g-1 uses", list)
	}
}

// TestReconcileDropsUnusedForkSnapshot: a fork snapshot no VM uses (the
// daemon died before the first copy, or after deleting the last) is
// removed at start-up.
func TestReconcileDropsUnusedForkSnapshot(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, envOpts{})
	e.create("src")
	e.start("src")
	if _, err := e.svc.snapshotVM(ctx, "", "src", "src-fork-1", true, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.SnapshotVM(ctx, "", "src", "named", nil); err != nil {
		t.Fatal(err)
	}
	e.restarted()
	if _, err := e.svc.GetSnapshot(ctx, "src-fork-1"); !errdefs.Is(err, errdefs.NotFound) {
		t.Errorf("unused fork snapshot after reconcile: %v, want not_found", err)
	}
	if _, err := e.svc.GetSnapshot(ctx, "named"); err != nil {
		t.Errorf("named snapshot after reconcile: %v", err)
	}
}
