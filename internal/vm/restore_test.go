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
	"banger/internal/store"
)

// snapshotOf starts a VM named vmName and saves it as snapshot snap.
func (e *env) snapshotOf(vmName, snap string) Snapshot {
	e.t.Helper()
	e.create(vmName)
	e.start(vmName)
	sn, err := e.svc.SnapshotVM(context.Background(), "", vmName, snap, nil)
	if err != nil {
		e.t.Fatalf("SnapshotVM: %v", err)
	}
	return sn
}

func TestCreateFromSnapshot(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, envOpts{})
	sn := e.snapshotOf("src", "s1")
	var events []string
	v, err := e.svc.CreateFromSnapshot(ctx, "", "s1", CreateRequest{Name: "c1"}, func(ev Event) {
		if ev.Type == EventStep {
			events = append(events, ev.Step)
		}
	})
	if err != nil {
		t.Fatalf("CreateFromSnapshot: %v", err)
	}
	if v.State != StateRunning || v.Snapshot != "s1" || v.VCPUs != sn.VCPUs || v.MemoryMiB != sn.MemoryMiB || v.DiskBytes != sn.DiskBytes || v.Image != "default" {
		t.Errorf("VM = %+v; want running from s1 with its shape", v)
	}
	if got := strings.Join(events, " "); got != "record make-dir clone-disks prepare-runtime attach-network launch-vmm load-snapshot resume-vcpus reidentify mark-running" {
		t.Errorf("steps: %s", got)
	}
	rec := e.record("c1")
	if !process.Alive(rec.PID, rec.PIDStart) || e.paused(rec) {
		t.Errorf("the VMM of c1 is not running a resumed guest (pid %d, paused %v)", rec.PID, e.paused(rec))
	}
	src := e.record("src")
	if rec.PID == src.PID || rec.ID == src.ID || rec.Dir == src.Dir {
		t.Errorf("c1 shares the VMM or directory of src: %+v vs %+v", rec, src)
	}
	for _, f := range []string{rootDiskFile, workDiskFile} {
		if _, err := os.Stat(filepath.Join(rec.Dir, f)); err != nil {
			t.Errorf("disk %s of c1: %v", f, err)
		}
	}
	// A VM made from a snapshot keeps it.
	if err := e.svc.DeleteSnapshot(ctx, "", "s1", nil); !errdefs.Is(err, errdefs.FailedPrecondition) || !strings.Contains(err.Error(), "c1") {
		t.Errorf("DeleteSnapshot of a snapshot in use = %v, want failed_precondition naming c1", err)
	}
	// The VM lives its own life: stopped, it boots from its own disks.
	if _, err := e.svc.Stop(ctx, "", "c1", nil); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if _, err := e.svc.Start(ctx, "", "c1", nil); err != nil {
		t.Fatalf("Start after stop: %v", err)
	}
	if err := e.svc.Delete(ctx, "", "c1", nil); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	e.assertGone(rec)
	if err := e.svc.DeleteSnapshot(ctx, "", "s1", nil); err != nil {
		t.Errorf("DeleteSnapshot once its VM is gone: %v", err)
	}
}

func TestCreateFromSnapshotRefusals(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, envOpts{})
	sn := e.snapshotOf("src", "s1")
	for _, tt := range []struct {
		name string
		req  CreateRequest
		kind errdefs.Kind
		want string
	}{
		{"vcpus", CreateRequest{VCPUs: sn.VCPUs + 1}, errdefs.InvalidArgument, "vCPUs"},
		{"memory", CreateRequest{MemoryMiB: 256}, errdefs.InvalidArgument, "memory"},
		{"disk", CreateRequest{DiskBytes: 1 << 30}, errdefs.InvalidArgument, "work disk"},
		{"image", CreateRequest{Image: "other"}, errdefs.InvalidArgument, "image"},
		{"taken name", CreateRequest{Name: "src"}, errdefs.AlreadyExists, "already exists"},
		{"bad name", CreateRequest{Name: "-bad"}, errdefs.InvalidArgument, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.svc.CreateFromSnapshot(ctx, "", "s1", tt.req, nil)
			if !errdefs.Is(err, tt.kind) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("CreateFromSnapshot(%+v) = %v, want %s mentioning %q", tt.req, err, tt.kind, tt.want)
			}
		})
	}
	// The same shape, or the image by name, is no conflict.
	if _, err := e.svc.CreateFromSnapshot(ctx, "", "s1", CreateRequest{Name: "same", Image: "default", VCPUs: sn.VCPUs, MemoryMiB: sn.MemoryMiB}, nil); err != nil {
		t.Errorf("CreateFromSnapshot with the snapshot's own shape: %v", err)
	}
	if _, err := e.svc.CreateFromSnapshot(ctx, "", "nosuch", CreateRequest{}, nil); !errdefs.Is(err, errdefs.NotFound) {
		t.Errorf("CreateFromSnapshot of a missing snapshot = %v, want not_found", err)
	}
	// Create dispatches a request naming a snapshot.
	if v, err := e.svc.Create(ctx, "", CreateRequest{Name: "via-create", FromSnapshot: "s1"}, nil); err != nil || v.Snapshot != "s1" || v.State != StateRunning {
		t.Errorf("Create with FromSnapshot = %+v, %v", v, err)
	}
}

// TestCreateFromSnapshotRollsBack fails each step in turn: no record,
// directory, runtime directory or VMM of the new VM is left, and the
// snapshot can be deleted.
func TestCreateFromSnapshotRollsBack(t *testing.T) {
	ctx := context.Background()
	for _, failAt := range []string{"record", "make-dir", "clone-disks", "prepare-runtime", "attach-network", "launch-vmm", "load-snapshot", "resume-vcpus", "reidentify", "mark-running"} {
		t.Run(failAt, func(t *testing.T) {
			e := newEnv(t, envOpts{hooks: Hooks{BeforeStep: func(kind, step string) error {
				if kind == restoreKind && step == failAt {
					return errors.New("injected failure")
				}
				return nil
			}}})
			e.snapshotOf("src", "s1")
			if _, err := e.svc.CreateFromSnapshot(ctx, "", "s1", CreateRequest{Name: "c1"}, nil); err == nil || !strings.Contains(err.Error(), "injected failure") {
				t.Fatalf("CreateFromSnapshot = %v, want the injected failure", err)
			}
			assertOnlyVM(t, e, "src")
			if err := e.svc.DeleteSnapshot(ctx, "", "s1", nil); err != nil {
				t.Errorf("DeleteSnapshot after the rollback: %v", err)
			}
		})
	}
}

// TestReconcileInterruptedRestore leaves a create from a snapshot as a
// killed daemon would at each step (the plan's journal and what its steps
// made, no rollback): the restarted daemon removes all of it.
func TestReconcileInterruptedRestore(t *testing.T) {
	ctx := context.Background()
	for _, stopAt := range []string{"make-dir", "clone-disks", "launch-vmm", "load-snapshot", "resume-vcpus", "mark-running"} {
		t.Run(stopAt, func(t *testing.T) {
			stop := errors.New("daemon killed")
			e := newEnv(t, envOpts{hooks: Hooks{BeforeStep: func(kind, step string) error {
				if kind == restoreKind && step == stopAt {
					return stop
				}
				return nil
			}}})
			e.snapshotOf("src", "s1")
			// Run the plan up to stopAt without its rollback, as a
			// daemon killed there leaves it.
			rec, img, err := e.svc.prepareRestore(ctx, mustSnapshot(t, e, "s1"), CreateRequest{Name: "c1"})
			if err != nil {
				t.Fatal(err)
			}
			sn := mustSnapshot(t, e, "s1")
			o, err := e.svc.newOp(ctx, "", restoreKind, rec.ID, rec.Name, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := o.runForward(ctx, e.svc.restoreSteps(&rec, img, sn)); !errors.Is(err, stop) {
				t.Fatalf("plan = %v, want it stopped before %s", err, stopAt)
			}
			if got := e.record("c1"); State(got.State) != StateCreating {
				t.Fatalf("c1 is %s before the restart, want creating", got.State)
			}
			e.restarted()
			assertOnlyVM(t, e, "src")
			if err := e.svc.DeleteSnapshot(ctx, "", "s1", nil); err != nil {
				t.Errorf("DeleteSnapshot after reconcile: %v", err)
			}
		})
	}
}

func mustSnapshot(t *testing.T, e *env, ref string) store.Snapshot {
	t.Helper()
	sn, err := e.store.GetSnapshot(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	return sn
}

// assertOnlyVM checks that keep is the only VM left, with nothing of
// another in the state or runtime directories and no other VMM.
func assertOnlyVM(t *testing.T, e *env, keep string) {
	t.Helper()
	vms, err := e.store.ListVMs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(vms) != 1 || vms[0].Name != keep {
		t.Errorf("VMs left: %+v, want only %s", vms, keep)
	}
	k := e.record(keep)
	for _, dir := range []string{filepath.Join(e.root, "state", "vms"), filepath.Join(e.root, "run", "vms")} {
		entries, _ := os.ReadDir(dir)
		for _, en := range entries {
			if en.Name() != k.ID {
				t.Errorf("%s left in %s", en.Name(), dir)
			}
		}
	}
	if pids, _ := process.FindByArg(filepath.Join(e.root, "run", "vms")); len(pids) != 1 {
		t.Errorf("VMM processes under the runtime root: %v, want only %s's", pids, keep)
	}
}

// TestCreateFromSnapshotRefusedWhenShortOfSpace: the clones of the
// snapshot's disks are measured before anything is made.
func TestCreateFromSnapshotRefusedWhenShortOfSpace(t *testing.T) {
	ctx := context.Background()
	sp := &fakeSpace{free: 1 << 40}
	e := newEnv(t, envOpts{space: sp})
	sn := e.snapshotOf("src", "s1")
	sp.free, sp.asked = 4096, nil
	_, err := e.svc.CreateFromSnapshot(ctx, "", "s1", CreateRequest{Name: "c1"}, nil)
	if !errdefs.Is(err, errdefs.FailedPrecondition) || !strings.Contains(err.Error(), "from snapshot s1") {
		t.Fatalf("CreateFromSnapshot with 4 KiB free = %v, want failed_precondition naming the snapshot", err)
	}
	root, _ := sp.CloneCost(filepath.Join(e.svc.dirs.SnapshotDir(sn.ID), rootDiskFile))
	work, _ := sp.CloneCost(filepath.Join(e.svc.dirs.SnapshotDir(sn.ID), workDiskFile))
	if len(sp.asked) != 1 || sp.asked[0] != root+work {
		t.Errorf("CheckRoom asked for %v, want [%d]", sp.asked, root+work)
	}
	assertOnlyVM(t, e, "src")
}
