package vm

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"banger/internal/errdefs"
	"banger/internal/process"
	"banger/internal/store"
	"banger/internal/vmm"
)

// paused asks the VMM of rec whether its guest is paused.
func (e *env) paused(rec store.VM) bool {
	e.t.Helper()
	got, err := e.svc.driver.Paused(context.Background(), vmm.Process{PID: rec.PID, StartTime: rec.PIDStart, APISocket: rec.APISocket})
	if err != nil {
		e.t.Fatalf("Paused: %v", err)
	}
	return got
}

// restarted is the service a restarted daemon would run on e's store,
// reconciled.
func (e *env) restarted() *Service {
	e.t.Helper()
	svc := New(Config{Store: e.store, Driver: e.svc.driver, Disks: e.disks, Dirs: e.svc.dirs,
		Defaults: e.svc.defaults, WatchInterval: 50 * time.Millisecond})
	e.t.Cleanup(svc.Close)
	if err := svc.Reconcile(context.Background()); err != nil {
		e.t.Fatalf("Reconcile: %v", err)
	}
	return svc
}

func TestPauseResume(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, envOpts{})
	e.create("p")
	running := e.start("p")
	v, err := e.svc.Pause(ctx, "", "p", nil)
	if err != nil || v.State != StatePaused || v.PID != running.PID {
		t.Fatalf("Pause = %+v, %v; want paused with pid %d", v, err, running.PID)
	}
	rec := e.record("p")
	if !e.paused(rec) {
		t.Fatal("the VMM does not report the guest paused")
	}
	if v, err := e.svc.Pause(ctx, "", "p", nil); err != nil || v.State != StatePaused {
		t.Errorf("second Pause = %+v, %v; want a no-op", v, err)
	}
	if _, err := e.svc.Start(ctx, "", "p", nil); !errdefs.Is(err, errdefs.FailedPrecondition) || !strings.Contains(err.Error(), "banger vm resume p") {
		t.Errorf("Start of a paused VM = %v, want failed_precondition naming vm resume", err)
	}

	// A restarted daemon finds it paused, with the same VMM.
	svc := e.restarted()
	if got := e.record("p"); State(got.State) != StatePaused || got.PID != rec.PID || !process.Alive(got.PID, got.PIDStart) {
		t.Fatalf("after reconcile: %s pid %d alive %v; want paused, pid %d", got.State, got.PID, process.Alive(got.PID, got.PIDStart), rec.PID)
	}
	v, err = svc.Resume(ctx, "", "p", nil)
	if err != nil || v.State != StateRunning || v.PID != running.PID {
		t.Fatalf("Resume = %+v, %v", v, err)
	}
	if e.paused(rec) {
		t.Fatal("the VMM still reports the guest paused after Resume")
	}
	if v, err := svc.Resume(ctx, "", "p", nil); err != nil || v.State != StateRunning {
		t.Errorf("second Resume = %+v, %v; want a no-op", v, err)
	}
	op, steps := e.lastOp(rec.ID)
	if op.Kind != "vm.resume" || op.State != "succeeded" || len(steps) != 2 || steps[0].Step != "resume-vcpus" || steps[1].Step != "mark-running" {
		t.Errorf("resume op = %+v, steps %+v", op, steps)
	}
}

func TestPauseRefusedWhenStopped(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.create("s")
	for _, f := range []func(context.Context, string, string, Progress) (VM, error){e.svc.Pause, e.svc.Resume} {
		if _, err := f(context.Background(), "", "s", nil); !errdefs.Is(err, errdefs.FailedPrecondition) || !strings.Contains(err.Error(), "banger vm start s") {
			t.Errorf("pause/resume of a stopped VM = %v, want failed_precondition naming vm start", err)
		}
	}
}

// TestReconcileTakesPausedFromVMM: a daemon killed between pausing the
// vCPUs and recording it (or the other way round) leaves store and VMM
// disagreeing; the restarted daemon records what the VMM says.
func TestReconcileTakesPausedFromVMM(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, envOpts{})
	e.create("c")
	e.start("c")
	rec := e.record("c")
	p := vmm.Process{PID: rec.PID, StartTime: rec.PIDStart, APISocket: rec.APISocket}
	if err := e.svc.driver.Pause(ctx, p); err != nil {
		t.Fatal(err)
	}
	e.restarted()
	if got := e.record("c"); State(got.State) != StatePaused {
		t.Fatalf("recorded running, VMM paused: after reconcile %s, want paused", got.State)
	}
	if err := e.svc.driver.Resume(ctx, p); err != nil {
		t.Fatal(err)
	}
	e.restarted()
	if got := e.record("c"); State(got.State) != StateRunning {
		t.Fatalf("recorded paused, VMM running: after reconcile %s, want running", got.State)
	}
}

// TestStopPausedIsGraceful: a paused guest cannot act on a shutdown
// request; stop resumes it first, so it shuts down cleanly instead of being
// killed at the stop timeout.
func TestStopPausedIsGraceful(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, envOpts{stopTimeout: 2 * time.Second})
	e.create("g")
	e.start("g")
	if _, err := e.svc.Pause(ctx, "", "g", nil); err != nil {
		t.Fatal(err)
	}
	rec := e.record("g")
	v, err := e.svc.Stop(ctx, "", "g", nil)
	if err != nil || v.State != StateStopped {
		t.Fatalf("Stop = %+v, %v", v, err)
	}
	e.assertNoVMM(rec)
	console, _ := os.ReadFile(filepath.Join(rec.Dir, consoleLogFile))
	if !strings.Contains(string(console), "reboot: Restarting system") {
		t.Errorf("the paused guest did not shut down cleanly (killed instead); console:\n%s", console)
	}
}
