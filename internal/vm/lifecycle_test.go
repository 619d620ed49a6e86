package vm

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"banger/internal/errdefs"
	"banger/internal/process"
	"banger/internal/store"
)

func TestCreateStartStopDelete(t *testing.T) {
	e := newEnv(t, envOpts{})
	v := e.create("web")
	if v.State != StateStopped || v.Image != "default" || v.VCPUs != 1 || v.MemoryMiB != 128 {
		t.Fatalf("created VM = %+v", v)
	}
	rec := e.record("web")
	for _, f := range []string{rootDiskFile, workDiskFile} {
		if _, err := os.Stat(filepath.Join(rec.Dir, f)); err != nil {
			t.Errorf("disk %s: %v", f, err)
		}
	}
	// The VM's own root disk carries its identity.
	out, err := exec.Command("debugfs", "-R", "cat /etc/hostname", filepath.Join(rec.Dir, rootDiskFile)).Output()
	if err != nil || string(out) != "web\n" {
		t.Errorf("hostname in the root disk = %q, %v", out, err)
	}
	out, err = exec.Command("debugfs", "-R", "cat "+agentTokenPath, filepath.Join(rec.Dir, rootDiskFile)).Output()
	if err != nil || string(out) != rec.AgentToken || len(rec.AgentToken) != 64 {
		t.Errorf("agent token in the root disk = %q (record %q), %v", out, rec.AgentToken, err)
	}
	op, steps := e.lastOp(rec.ID)
	if op.Kind != "vm.create" || op.State != "succeeded" {
		t.Errorf("create op = %+v", op)
	}
	var done []string
	for _, s := range steps {
		if s.Status == "started" {
			done = append(done, s.Step)
		}
	}
	if diff := cmp.Diff([]string{"record", "make-dir", "copy-root-disk", "write-identity", "create-work-disk", "finish"}, done); diff != "" {
		t.Errorf("create journal (-want +got):\n%s", diff)
	}

	v = e.start("web")
	rec = e.record("web")
	if v.State != StateRunning || v.PID == 0 || !process.Alive(rec.PID, rec.PIDStart) {
		t.Fatalf("started VM = %+v, alive %v", v, process.Alive(rec.PID, rec.PIDStart))
	}
	// Starting a running VM is a no-op.
	if again := e.start("web"); again.PID != v.PID {
		t.Errorf("second start changed pid %d -> %d", v.PID, again.PID)
	}

	v, err = e.svc.Stop(context.Background(), "", "web", nil)
	if err != nil {
		t.Fatal(err)
	}
	if v.State != StateStopped {
		t.Errorf("state after stop = %s", v.State)
	}
	e.assertNoVMM(rec)
	if _, err := os.Stat(rec.RuntimeDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("runtime dir left after stop: %v", err)
	}
	// The console log of the run is kept.
	if b, _ := os.ReadFile(filepath.Join(rec.Dir, consoleLogFile)); len(b) == 0 {
		t.Error("console log is empty after a run")
	}

	if err := e.svc.Delete(context.Background(), "", "web", nil); err != nil {
		t.Fatal(err)
	}
	e.assertGone(rec)
}

func TestCreateRejectsBadInput(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.svc.defaults.ValidateVCPUs = func(n int) error {
		if n > 2 {
			return errors.New("must be between 1 and 2")
		}
		return nil
	}
	e.create("taken")
	pulled := store.Image{ID: NewID(), Name: "pulled", RootFS: filepath.Join(e.root, "rootfs.tar"), State: store.ImagePulled,
		Source: "index.docker.io/library/debian:12", Digest: "sha256:" + strings.Repeat("d", 64)}
	if err := e.store.CreateImage(context.Background(), pulled); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		req  CreateRequest
		kind errdefs.Kind
		msg  string
	}{
		{"bad name", CreateRequest{Name: "Bad_Name"}, errdefs.InvalidArgument, "Bad_Name"},
		{"dash", CreateRequest{Name: "-x"}, errdefs.InvalidArgument, "-x"},
		{"too many vcpus", CreateRequest{Name: "a", VCPUs: 9}, errdefs.InvalidArgument, "vcpus = 9: must be between 1 and 2"},
		{"every problem", CreateRequest{Name: "B", VCPUs: 9, MemoryMiB: -1}, errdefs.InvalidArgument, "memory_mib = -1: must be positive"},
		{"negative disk", CreateRequest{Name: "a", DiskBytes: -5}, errdefs.InvalidArgument, "disk_bytes = -5: must be positive"},
		{"no image", CreateRequest{Name: "a", Image: "nope"}, errdefs.NotFound, "nope"},
		{"duplicate", CreateRequest{Name: "taken"}, errdefs.AlreadyExists, "taken"},
		{"pulled image", CreateRequest{Name: "a", Image: "pulled"}, errdefs.FailedPrecondition, "was pulled by an older banger"},
		{"bad label key", CreateRequest{Name: "a", Labels: map[string]string{"-x": "1"}}, errdefs.InvalidArgument, `label key "-x"`},
		{"bad label value", CreateRequest{Name: "a", Labels: map[string]string{"k": "\xff"}}, errdefs.InvalidArgument, `label "k"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.svc.Create(context.Background(), "", tc.req, nil)
			if got := errdefs.KindOf(err); got != tc.kind {
				t.Fatalf("kind = %q (%v), want %q", got, err, tc.kind)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not mention %q", err, tc.msg)
			}
		})
	}
	vms, _ := e.svc.List(context.Background())
	if len(vms) != 1 {
		t.Errorf("bad creates left records: %d VMs", len(vms))
	}
}

func TestLabelsAreKept(t *testing.T) {
	e := newEnv(t, envOpts{})
	want := map[string]string{"banger.dev/pod-uid": "0d7c", "team": "a b"}
	if _, err := e.svc.Create(context.Background(), "", CreateRequest{Name: "lab", Labels: want}, nil); err != nil {
		t.Fatal(err)
	}
	got, err := e.svc.Get(context.Background(), "lab")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got.Labels); diff != "" {
		t.Errorf("labels (-want +got):\n%s", diff)
	}
}

func TestGeneratedName(t *testing.T) {
	e := newEnv(t, envOpts{})
	v, err := e.svc.Create(context.Background(), "", CreateRequest{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if v.Name == "" || !strings.Contains(v.Name, "-") {
		t.Errorf("generated name %q", v.Name)
	}
}

func TestCreateFailureRollsBack(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.disks.failWork = errors.New("disk full")
	var events []string
	_, err := e.svc.Create(context.Background(), "op-test1", CreateRequest{Name: "doomed"}, func(ev Event) {
		events = append(events, ev.Step)
	})
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("Create error = %v, want disk full", err)
	}
	if _, err := e.store.GetVM(context.Background(), "doomed"); !errdefs.Is(err, errdefs.NotFound) {
		t.Errorf("record left after failed create: %v", err)
	}
	entries, _ := os.ReadDir(filepath.Join(e.root, "state", "vms"))
	if len(entries) != 0 {
		t.Errorf("VM directories left: %v", entries)
	}
	op, err := e.store.GetOperation(context.Background(), "op-test1")
	if err != nil || op.State != "rolled_back" {
		t.Errorf("op = %+v, %v; want rolled_back", op, err)
	}
	if diff := cmp.Diff([]string{"record", "make-dir", "copy-root-disk", "write-identity", "create-work-disk"}, events); diff != "" {
		t.Errorf("progress events (-want +got):\n%s", diff)
	}
}

func TestCancelledCreateRollsBack(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	e := newEnv(t, envOpts{hooks: Hooks{BeforeStep: func(kind, step string) error {
		if step == "create-work-disk" {
			cancel() // the client hangs up mid-create
		}
		return nil
	}}})
	_, err := e.svc.Create(ctx, "", CreateRequest{Name: "gone"}, nil)
	if err == nil {
		t.Fatal("cancelled create succeeded")
	}
	if _, err := e.store.GetVM(context.Background(), "gone"); !errdefs.Is(err, errdefs.NotFound) {
		t.Errorf("record left after cancelled create: %v", err)
	}
	entries, _ := os.ReadDir(filepath.Join(e.root, "state", "vms"))
	if len(entries) != 0 {
		t.Errorf("VM directories left: %v", entries)
	}
}

func TestStartFailureRollsBack(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.create("web")
	t.Setenv("FAKEFC_FAIL", "PUT /machine-config")
	_, err := e.svc.Start(context.Background(), "", "web", nil)
	if err == nil || !strings.Contains(err.Error(), "machine-config") {
		t.Fatalf("Start error = %v, want a machine-config failure", err)
	}
	rec := e.record("web")
	if State(rec.State) != StateStopped || rec.PID != 0 {
		t.Errorf("after failed start: state %s pid %d", rec.State, rec.PID)
	}
	e.assertNoVMM(rec)
	if _, err := os.Stat(rec.RuntimeDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("runtime dir left: %v", err)
	}
	op, _ := e.lastOp(rec.ID)
	if op.State != "rolled_back" {
		t.Errorf("op state = %s", op.State)
	}
	// The VM starts once the fault is gone.
	os.Unsetenv("FAKEFC_FAIL")
	e.start("web")
}

func TestForcedStop(t *testing.T) {
	e := newEnv(t, envOpts{stopTimeout: 200 * time.Millisecond})
	t.Setenv("FAKEFC_IGNORE_CTRLALTDEL", "1")
	e.create("obstinate")
	e.start("obstinate")
	rec := e.record("obstinate")
	start := time.Now()
	v, err := e.svc.Stop(context.Background(), "", "obstinate", nil)
	if err != nil {
		t.Fatal(err)
	}
	if v.State != StateStopped {
		t.Errorf("state = %s", v.State)
	}
	if time.Since(start) < 200*time.Millisecond {
		t.Errorf("stop returned before the stop timeout")
	}
	e.assertNoVMM(rec)
}

func TestKillAndRestart(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.create("k")
	first := e.start("k")
	v, err := e.svc.Kill(context.Background(), "", "k", nil)
	if err != nil || v.State != StateStopped {
		t.Fatalf("Kill = %+v, %v", v, err)
	}
	e.start("k")
	v, err = e.svc.Restart(context.Background(), "", "k", nil)
	if err != nil || v.State != StateRunning || v.PID == first.PID {
		t.Fatalf("Restart = %+v, %v", v, err)
	}
}

func TestDeleteRunningStopsFirst(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.create("r")
	e.start("r")
	rec := e.record("r")
	if err := e.svc.Delete(context.Background(), "", "r", nil); err != nil {
		t.Fatal(err)
	}
	e.assertGone(rec)
	if err := e.svc.Delete(context.Background(), "", "r", nil); !errdefs.Is(err, errdefs.NotFound) {
		t.Errorf("second delete = %v, want not_found", err)
	}
}

func TestConcurrentCreates(t *testing.T) {
	e := newEnv(t, envOpts{})
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprintf("vm-%d", i)
			if _, err := e.svc.Create(context.Background(), "", CreateRequest{Name: name, Start: true}, nil); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	vms, _ := e.svc.List(context.Background())
	running := 0
	for _, v := range vms {
		if v.State == StateRunning {
			running++
		}
	}
	if running != n {
		t.Errorf("%d of %d VMs running", running, n)
	}
}

func TestWatcherNoticesExit(t *testing.T) {
	e := newEnv(t, envOpts{})
	if err := e.svc.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.create("w")
	e.start("w")
	rec := e.record("w")
	if err := process.Kill(context.Background(), rec.PID, rec.PIDStart, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if State(e.record("w").State) == StateStopped {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("VM still %s after its VMM died", e.record("w").State)
}

func TestBusyStates(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.create("b")
	rec := e.record("b")
	rec.State = string(StateCreating)
	if err := e.store.UpdateVM(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Start(context.Background(), "", "b", nil); !errdefs.Is(err, errdefs.FailedPrecondition) {
		t.Errorf("start of creating VM = %v", err)
	}
	if err := e.svc.Delete(context.Background(), "", "b", nil); !errdefs.Is(err, errdefs.FailedPrecondition) {
		t.Errorf("delete of creating VM = %v", err)
	}
}

func TestCreateAndStartWithRequestOpID(t *testing.T) {
	e := newEnv(t, envOpts{})
	v, err := e.svc.Create(context.Background(), "op-req1", CreateRequest{Name: "s", Start: true}, nil)
	if err != nil || v.State != StateRunning {
		t.Fatalf("Create+Start = %+v, %v", v, err)
	}
	for _, id := range []string{"op-req1", "op-req1-start"} {
		if op, err := e.store.GetOperation(context.Background(), id); err != nil || op.State != "succeeded" {
			t.Errorf("operation %s = %+v, %v", id, op, err)
		}
	}
	if _, err := e.svc.Restart(context.Background(), "op-req2", "s", nil); err != nil {
		t.Fatal(err)
	}
}
