package e2e

import (
	"encoding/json"
	"path/filepath"
	"testing"

	"banger/internal/api"
)

// The steps of the pause, resume and snapshot plans, as named in
// internal/vm.
var (
	pauseSteps    = []string{"pause-vcpus", "mark-paused"}
	resumeSteps   = []string{"resume-vcpus", "mark-running"}
	snapshotSteps = []string{"record", "make-dir", "pause-vcpus", "save-state", "copy-disks", "resume-vcpus", "finish"}
	// restoreSteps: the world's image does not read the identity disk,
	// so the plan has no write-identity-disk step.
	restoreSteps = []string{"record", "lease-address", "make-dir", "clone-disks", "prepare-runtime", "attach-network", "launch-vmm", "load-snapshot", "resume-vcpus", "reidentify", "mark-running"}
)

// snapshots lists the snapshots by name.
func (w *world) snapshots() map[string]api.Snapshot {
	w.t.Helper()
	var list []api.Snapshot
	if err := json.Unmarshal([]byte(w.mustBanger("snapshot", "list", "--json")), &list); err != nil {
		w.t.Fatal(err)
	}
	out := map[string]api.Snapshot{}
	for _, s := range list {
		out[s.Name] = s
	}
	return out
}

// TestCrashPauseResume crashes the daemon before every step of pause and
// of resume: the restarted daemon keeps the same VMM and records the VM
// paused or running as the VMM says, and pause and resume work again.
func TestCrashPauseResume(t *testing.T) {
	w := crashWorld(t)
	for _, plan := range []struct {
		kind, verb string
		steps      []string
		paused     bool // whether the VM starts paused
	}{
		{"vm.pause", "pause", pauseSteps, false},
		{"vm.resume", "resume", resumeSteps, true},
	} {
		for i, step := range plan.steps {
			t.Run(plan.verb+"/"+step, func(t *testing.T) {
				w.t = t
				var pid int
				setup := func() {
					w.mustBanger(append(createArgs("x"), "--start")...)
					if plan.paused {
						w.mustBanger("vm", "pause", "x")
					}
					pid = w.vm("x").PID
				}
				w.crash(plan.kind, step, setup, "vm", plan.verb, "x")
				// Before the first step the VMM was not asked; after it,
				// it was: the record follows the VMM either way.
				want := api.StateRunning
				if plan.paused != (i > 0) {
					want = api.StatePaused
				}
				x := w.vm("x")
				if x.State != want || x.PID != pid || !alive(pid) {
					t.Errorf("x after a crash before %s: %s pid %d (alive %v), want %s pid %d", step, x.State, x.PID, alive(pid), want, pid)
				}
				w.mustBanger("vm", "pause", "x")
				w.mustBanger("vm", "resume", "x")
				if x := w.vm("x"); x.State != api.StateRunning {
					t.Errorf("x after pause and resume: %s", x.State)
				}
				w.mustBanger("vm", "delete", "x")
				w.assertClean()
				w.stopDaemon()
			})
		}
	}
}

// TestCrashSnapshot crashes the daemon before every step of saving a
// running VM: the restarted daemon removes the half-made snapshot (record
// and files) and lets the guest its plan paused run again.
func TestCrashSnapshot(t *testing.T) {
	w := crashWorld(t)
	for _, step := range snapshotSteps {
		t.Run(step, func(t *testing.T) {
			w.t = t
			var pid int
			setup := func() {
				w.mustBanger(append(createArgs("x"), "--start")...)
				pid = w.vm("x").PID
			}
			w.crash("snapshot.create", step, setup, "vm", "snapshot", "x", "--name", "s")
			if s, ok := w.snapshots()["s"]; ok {
				t.Errorf("snapshot s survived a crash before %s as %s; want it rolled back", step, s.State)
			}
			if e := entries(filepath.Join(w.stateDir(), "snapshots")); len(e) != 0 {
				t.Errorf("snapshot directories left: %v", e)
			}
			if x := w.vm("x"); x.State != api.StateRunning || x.PID != pid || !alive(pid) {
				t.Errorf("x after a crash before %s: %s pid %d, want running pid %d", step, x.State, x.PID, pid)
			}
			w.mustBanger("vm", "snapshot", "x", "--name", "s")
			if s := w.snapshots()["s"]; s.State != api.SnapshotReady || s.VM != "x" {
				t.Errorf("snapshot after the crash: %+v", s)
			}
			w.mustBanger("snapshot", "rm", "s")
			if e := entries(filepath.Join(w.stateDir(), "snapshots")); len(e) != 0 {
				t.Errorf("snapshot directories left after rm: %v", e)
			}
			w.mustBanger("vm", "delete", "x")
			w.assertClean()
			w.stopDaemon()
		})
	}
}

// TestCrashSnapshotDelete crashes the daemon before every step of deleting
// a snapshot: the restarted daemon finishes the delete.
func TestCrashSnapshotDelete(t *testing.T) {
	w := crashWorld(t)
	for _, step := range []string{"mark-deleting", "remove-files", "remove-record"} {
		t.Run(step, func(t *testing.T) {
			w.t = t
			setup := func() {
				w.mustBanger(append(createArgs("x"), "--start")...)
				w.mustBanger("vm", "snapshot", "x", "--name", "s")
			}
			w.crash("snapshot.delete", step, setup, "snapshot", "rm", "s")
			if s, ok := w.snapshots()["s"]; ok {
				t.Errorf("snapshot s after a crash before %s: still listed as %s, want deleted", step, s.State)
			}
			if e := entries(filepath.Join(w.stateDir(), "snapshots")); len(e) != 0 {
				t.Errorf("snapshot directories left: %v", e)
			}
			w.mustBanger("vm", "delete", "x")
			w.assertClean()
			w.stopDaemon()
		})
	}
}

// TestCrashCreateFromSnapshot crashes the daemon before every step of
// making a VM from a snapshot: the restarted daemon removes all of the
// new VM (VMM, tap, lease, files, record), the snapshot can be used again
// and, once no VM made from it is left, deleted.
func TestCrashCreateFromSnapshot(t *testing.T) {
	w := crashWorld(t)
	// The fake Firecracker runs no guest, so no agent to re-identify:
	// the daemon skips that step (a test build's hook) unless it crashes
	// before it.
	w.env = append(w.env, "BANGERD_TEST_SKIP_STEPS=vm.restore:reidentify")
	for _, step := range restoreSteps {
		t.Run(step, func(t *testing.T) {
			w.t = t
			setup := func() {
				w.mustBanger(append(createArgs("x"), "--start")...)
				w.mustBanger("vm", "snapshot", "x", "--name", "s")
			}
			w.crash("vm.restore", step, setup, "vm", "create", "--from-snapshot", "s", "y")
			if _, ok := w.vms()["y"]; ok {
				t.Errorf("VM y survived a crash before %s; want it rolled back", step)
			}
			w.mustBanger("vm", "create", "--from-snapshot", "s", "y")
			if y := w.vm("y"); y.State != api.StateRunning || y.Snapshot != "s" || !alive(y.PID) {
				t.Errorf("y made after the crash: %s from %q, pid %d; want running from s", y.State, y.Snapshot, y.PID)
			}
			if _, _, code := w.banger("snapshot", "rm", "s"); code == 0 {
				t.Error("snapshot rm s succeeded while y, made from it, exists")
			}
			w.mustBanger("vm", "delete", "x", "y")
			w.mustBanger("snapshot", "rm", "s")
			w.assertClean()
			w.stopDaemon()
		})
	}
}

// TestCrashWarmBuilder crashes the daemon before every create and start
// step of image warm's builder VM: the restarted daemon rolls the step
// back as for any VM and deletes the builder, leaving no VM, snapshot or
// host resource.
func TestCrashWarmBuilder(t *testing.T) {
	w := crashWorld(t)
	for _, plan := range []struct {
		kind  string
		steps []string
	}{{"vm.create", createSteps}, {"vm.start", startSteps}} {
		for _, step := range plan.steps {
			t.Run(plan.kind+"/"+step, func(t *testing.T) {
				w.t = t
				w.crash(plan.kind, step, nil, append([]string{"image", "warm", "default"}, vmFlags...)...)
				if snaps := w.snapshots(); len(snaps) != 0 {
					t.Errorf("snapshots after a crash before the builder's %s: %v", step, snaps)
				}
				w.assertClean()
				w.stopDaemon()
			})
		}
	}
}

// TestCrashFork crashes the daemon before every step of the snapshot plan
// and of the create-from-snapshot plan inside vm fork: the restarted
// daemon leaves the source VM running and nothing of the fork (no copy,
// and its automatic snapshot, which no VM uses, removed), and a fork
// afterwards works and goes away with its copies.
func TestCrashFork(t *testing.T) {
	w := crashWorld(t)
	w.env = append(w.env, "BANGERD_TEST_SKIP_STEPS=vm.restore:reidentify")
	type crashAt struct{ kind, step string }
	var plan []crashAt
	for _, s := range snapshotSteps {
		plan = append(plan, crashAt{"snapshot.create", s})
	}
	for _, s := range restoreSteps {
		plan = append(plan, crashAt{"vm.restore", s})
	}
	for _, c := range plan {
		t.Run(c.kind+"/"+c.step, func(t *testing.T) {
			w.t = t
			var pid int
			setup := func() {
				w.mustBanger(append(createArgs("x"), "--start")...)
				pid = w.vm("x").PID
			}
			w.crash(c.kind, c.step, setup, "vm", "fork", "x", "--name", "f", "-n", "2")
			if vms := w.vms(); len(vms) != 1 {
				t.Errorf("VMs after a crash before %s:%s: %v, want only x", c.kind, c.step, vms)
			}
			if s := w.snapshots(); len(s) != 0 {
				t.Errorf("snapshots after a crash before %s:%s: %v, want none", c.kind, c.step, s)
			}
			if e := entries(filepath.Join(w.stateDir(), "snapshots")); len(e) != 0 {
				t.Errorf("snapshot directories left: %v", e)
			}
			if x := w.vm("x"); x.State != api.StateRunning || x.PID != pid || !alive(pid) {
				t.Errorf("x after the crash: %s pid %d, want running pid %d", x.State, x.PID, pid)
			}
			var copies []api.VM
			if err := json.Unmarshal([]byte(w.mustBanger("vm", "fork", "x", "--name", "f", "-n", "2", "--json")), &copies); err != nil || len(copies) != 2 {
				t.Fatalf("vm fork after the crash: %v, %v", copies, err)
			}
			w.mustBanger("vm", "delete", "f-1", "f-2")
			if s := w.snapshots(); len(s) != 0 {
				t.Errorf("snapshots after deleting the copies: %v, want none", s)
			}
			w.mustBanger("vm", "delete", "x")
			w.assertClean()
			w.stopDaemon()
		})
	}
}
