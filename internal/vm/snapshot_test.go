package vm

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"banger/internal/errdefs"
	"banger/internal/process"
)

func TestSnapshotVM(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, envOpts{})
	e.create("src")
	if _, err := e.svc.SnapshotVM(ctx, "", "src", "s0", nil); !errdefs.Is(err, errdefs.FailedPrecondition) {
		t.Errorf("snapshot of a stopped VM = %v, want failed_precondition", err)
	}
	running := e.start("src")
	sn, err := e.svc.SnapshotVM(ctx, "", "src", "s1", nil)
	if err != nil {
		t.Fatalf("SnapshotVM: %v", err)
	}
	if sn.State != "ready" || sn.VM != "src" || sn.Image != "default" || sn.Driver != "firecracker" || sn.MemoryMiB != 128 || sn.SizeBytes <= 0 {
		t.Errorf("snapshot = %+v", sn)
	}
	rec := e.record("src")
	if State(rec.State) != StateRunning || rec.PID != running.PID || e.paused(rec) {
		t.Errorf("after the snapshot the VM is %s (pid %d, paused %v); want running on, pid %d", rec.State, rec.PID, e.paused(rec), running.PID)
	}
	dir := e.svc.dirs.SnapshotDir(sn.ID)
	for _, f := range []string{snapStateFile, snapMemoryFile, rootDiskFile, workDiskFile} {
		if fi, err := os.Stat(filepath.Join(dir, f)); err != nil || fi.Size() == 0 {
			t.Errorf("snapshot file %s: %v", f, err)
		}
	}
	_, steps := e.lastOp(sn.ID)
	var names []string
	for _, st := range steps {
		names = append(names, st.Step)
	}
	if got := strings.Join(names, " "); got != "record make-dir pause-vcpus save-state copy-disks resume-vcpus finish" {
		t.Errorf("snapshot journal: %s", got)
	}
	if _, err := e.svc.SnapshotVM(ctx, "", "src", "s1", nil); !errdefs.Is(err, errdefs.AlreadyExists) {
		t.Errorf("second snapshot named s1 = %v, want already_exists", err)
	}

	// A paused VM is saved without being resumed.
	if _, err := e.svc.Pause(ctx, "", "src", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.SnapshotVM(ctx, "", "src", "s2", nil); err != nil {
		t.Fatalf("SnapshotVM of a paused VM: %v", err)
	}
	if rec := e.record("src"); State(rec.State) != StatePaused || !e.paused(rec) {
		t.Errorf("after the snapshot of a paused VM it is %s, paused %v; want paused", rec.State, e.paused(rec))
	}
	list, err := e.svc.Snapshots(ctx)
	if err != nil || len(list) != 2 {
		t.Fatalf("Snapshots = %+v, %v", list, err)
	}

	if err := e.svc.DeleteSnapshot(ctx, "", "s1", nil); err != nil {
		t.Fatalf("DeleteSnapshot: %v", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("snapshot dir left after delete: %v", err)
	}
	if _, err := e.svc.GetSnapshot(ctx, "s1"); !errdefs.Is(err, errdefs.NotFound) {
		t.Errorf("GetSnapshot after delete = %v, want not_found", err)
	}
}

// TestSnapshotFailureRollsBack fails each step of the snapshot plan in
// turn: nothing of the snapshot is left, and the VM runs on, not paused.
func TestSnapshotFailureRollsBack(t *testing.T) {
	ctx := context.Background()
	for _, failAt := range []string{"record", "make-dir", "pause-vcpus", "save-state", "copy-disks", "resume-vcpus", "finish"} {
		t.Run(failAt, func(t *testing.T) {
			e := newEnv(t, envOpts{hooks: Hooks{BeforeStep: func(kind, step string) error {
				if kind == "snapshot.create" && step == failAt {
					return errors.New("injected failure")
				}
				return nil
			}}})
			e.create("v")
			e.start("v")
			if _, err := e.svc.SnapshotVM(ctx, "", "v", "snap", nil); err == nil || !strings.Contains(err.Error(), "injected failure") {
				t.Fatalf("SnapshotVM = %v, want the injected failure", err)
			}
			if _, err := e.svc.GetSnapshot(ctx, "snap"); !errdefs.Is(err, errdefs.NotFound) {
				t.Errorf("snapshot record left: %v", err)
			}
			if entries, _ := os.ReadDir(filepath.Join(e.root, "state", "snapshots")); len(entries) != 0 {
				t.Errorf("snapshot files left: %v", entries)
			}
			rec := e.record("v")
			if State(rec.State) != StateRunning || !process.Alive(rec.PID, rec.PIDStart) || e.paused(rec) {
				t.Errorf("VM after the failed snapshot: %s, paused %v; want running", rec.State, e.paused(rec))
			}
		})
	}
}

// TestPruneSnapshots: prune deletes the ready snapshots, each with its
// own journaled delete, and leaves one still being made and one a VM was
// made from.
func TestPruneSnapshots(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, envOpts{})
	e.create("src")
	e.start("src")
	if _, err := e.svc.SnapshotVM(ctx, "", "src", "used", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.CreateFromSnapshot(ctx, "", "used", CreateRequest{Name: "child"}, nil); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"a", "b"} {
		if _, err := e.svc.SnapshotVM(ctx, "", "src", n, nil); err != nil {
			t.Fatal(err)
		}
	}
	busy, err := e.svc.SnapshotVM(ctx, "", "src", "busy", nil)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := e.svc.store.GetSnapshot(ctx, busy.ID)
	if err != nil {
		t.Fatal(err)
	}
	rec.State = "creating"
	if err := e.svc.store.UpdateSnapshot(ctx, rec); err != nil {
		t.Fatal(err)
	}
	names := func(l []Snapshot) string {
		var out []string
		for _, s := range l {
			out = append(out, s.Name)
		}
		return strings.Join(out, " ")
	}
	dry, err := e.svc.PruneSnapshots(ctx, "", true, nil)
	if err != nil || names(dry) != "a b" {
		t.Fatalf("dry run = %q, %v; want a b", names(dry), err)
	}
	if list, _ := e.svc.Snapshots(ctx); len(list) != 4 {
		t.Fatalf("the dry run removed snapshots: %d left", len(list))
	}
	got, err := e.svc.PruneSnapshots(ctx, "op1", false, nil)
	if err != nil || names(got) != "a b" {
		t.Fatalf("prune = %q, %v; want a b", names(got), err)
	}
	list, _ := e.svc.Snapshots(ctx)
	if names(list) != "used busy" {
		t.Errorf("left after prune: %q, want used busy", names(list))
	}
	// Once the VM made from it is gone, it goes too.
	if err := e.svc.Delete(ctx, "", "child", nil); err != nil {
		t.Fatal(err)
	}
	if got, err := e.svc.PruneSnapshots(ctx, "op2", false, nil); err != nil || names(got) != "used" {
		t.Errorf("prune after the VM made from it was deleted = %q, %v; want used", names(got), err)
	}
	for _, s := range got {
		if _, err := os.Stat(s.Dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("snapshot %s's files left: %v", s.Name, err)
		}
		if o, _ := e.lastOp(s.ID); o.Kind != "snapshot.delete" || o.State != "succeeded" {
			t.Errorf("snapshot %s's prune journal: %+v", s.Name, o)
		}
	}
}
