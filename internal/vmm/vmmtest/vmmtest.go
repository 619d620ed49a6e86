// Package vmmtest is the conformance suite every vmm.Driver passes: launch
// and boot, shutdown, pause and resume, snapshot and restore, a killed
// process, a bad spec, a runtime directory it must refuse, a missing
// binary, two VMs at once, and relaunching after a crash. A driver's tests
// call Run with a Harness that knows how to make bootable specs for it (a
// fake VMM accepts any files; a real one needs a kernel and a root
// filesystem).
//
// It only uses the vmm.Driver interface and the process package, so any
// driver runs it unchanged. It starts processes only through the driver
// and must not be imported outside tests.
package vmmtest

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"banger/internal/errdefs"
	"banger/internal/process"
	"banger/internal/vmm"
)

// Harness is what Run needs from a driver's tests.
type Harness struct {
	// Driver is the driver under test.
	Driver vmm.Driver

	// Spec returns a complete, bootable spec for a new VM: a unique ID and
	// fresh paths (RuntimeDir, ConsoleLog, VMMLog, ... with unix socket
	// paths short enough), whose input files exist. RuntimeDir exists with
	// mode 0700, as the VM lifecycle makes it before Launch: drivers never
	// create it. Files it creates are the harness's to clean up
	// (t.TempDir, t.Cleanup).
	Spec func(t *testing.T) vmm.Spec

	// MissingBinary returns the driver under test configured with a VMM
	// binary that does not exist.
	MissingBinary func(t *testing.T) vmm.Driver

	// ConsoleReady is text the guest writes to its console once it is far
	// enough along to honour a shutdown request. Empty means any output.
	ConsoleReady string

	// BootTimeout bounds the wait for ConsoleReady after Boot; default 60s.
	BootTimeout time.Duration

	// ShutdownTimeout bounds the wait for the process to exit after
	// Shutdown; default 60s.
	ShutdownTimeout time.Duration
}

// killTimeout bounds a SIGKILL's effect.
const killTimeout = 10 * time.Second

// Run runs the conformance suite against h. The subtests run one after the
// other, and Run must not run in parallel with other tests of the same
// binary that start processes: it checks that no stray child is left.
func Run(t *testing.T, h Harness) {
	if h.BootTimeout <= 0 {
		h.BootTimeout = 60 * time.Second
	}
	if h.ShutdownTimeout <= 0 {
		h.ShutdownTimeout = 60 * time.Second
	}
	tests := []struct {
		name string
		fn   func(t *testing.T, h Harness)
	}{
		{"LaunchBoot", testLaunchBoot},
		{"Shutdown", testShutdown},
		{"PauseResume", testPauseResume},
		{"SnapshotRestore", testSnapshotRestore},
		{"Killed", testKilled},
		{"BadSpec", testBadSpec},
		{"RuntimeDirChecked", testRuntimeDirChecked},
		{"MissingBinary", testMissingBinary},
		{"TwoVMs", testTwoVMs},
		{"RelaunchAfterKill", testRelaunchAfterKill},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, h) })
	}
}

func testLaunchBoot(t *testing.T, h Harness) {
	spec := h.Spec(t)
	p := launch(t, h.Driver, spec)
	if p.PID <= 0 || p.StartTime == 0 {
		t.Fatalf("Launch returned %+v, want a pid and a start time", p)
	}
	if got, _, err := process.StartTime(p.PID); err != nil || got != p.StartTime {
		t.Fatalf("StartTime(%d) = %d, %v; Launch said %d", p.PID, got, err, p.StartTime)
	}
	if err := h.Driver.Boot(context.Background(), spec, p); err != nil {
		t.Fatalf("Boot: %v", err)
	}
	waitConsole(t, h, spec)
	if !process.Alive(p.PID, p.StartTime) {
		t.Fatal("process died after boot")
	}
}

func testShutdown(t *testing.T, h Harness) {
	spec := h.Spec(t)
	p := launchBoot(t, h, spec)
	if err := h.Driver.Shutdown(context.Background(), p); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := process.WaitExit(context.Background(), p.PID, p.StartTime, h.ShutdownTimeout); err != nil {
		t.Fatalf("process did not exit after Shutdown: %v", err)
	}
	// Shutdown is safe to retry and then says the process is gone.
	if err := h.Driver.Shutdown(context.Background(), p); !errors.Is(err, vmm.ErrNotRunning) {
		t.Fatalf("Shutdown after exit = %v, want ErrNotRunning", err)
	}
}

func testPauseResume(t *testing.T, h Harness) {
	ctx := context.Background()
	spec := h.Spec(t)
	p := launchBoot(t, h, spec)
	wantPaused := func(want bool) {
		t.Helper()
		got, err := h.Driver.Paused(ctx, p)
		if err != nil || got != want {
			t.Fatalf("Paused = %v, %v; want %v", got, err, want)
		}
	}
	wantPaused(false)
	for range 2 { // the second call must be a no-op
		if err := h.Driver.Pause(ctx, p); err != nil {
			t.Fatalf("Pause: %v", err)
		}
		wantPaused(true)
	}
	for range 2 {
		if err := h.Driver.Resume(ctx, p); err != nil {
			t.Fatalf("Resume: %v", err)
		}
		wantPaused(false)
	}
	if err := h.Driver.Pause(ctx, p); err != nil {
		t.Fatalf("Pause: %v", err)
	}
	if err := process.Kill(ctx, p.PID, p.StartTime, killTimeout); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	if err := h.Driver.Resume(ctx, p); !errors.Is(err, vmm.ErrNotRunning) {
		t.Fatalf("Resume of killed process = %v, want ErrNotRunning", err)
	}
	if _, err := h.Driver.Paused(ctx, p); !errors.Is(err, vmm.ErrNotRunning) {
		t.Fatalf("Paused of killed process = %v, want ErrNotRunning", err)
	}
}

// testSnapshotRestore saves a paused guest, copies its disks while it is
// paused, and resumes the saved guest in a new VMM on the copies: it runs
// (it shuts down when asked) and the original can go on.
func testSnapshotRestore(t *testing.T, h Harness) {
	ctx := context.Background()
	spec := h.Spec(t)
	p := launchBoot(t, h, spec)
	dir := t.TempDir()
	files := vmm.SnapshotFiles{State: filepath.Join(dir, "state"), Memory: filepath.Join(dir, "memory")}
	if err := h.Driver.Snapshot(ctx, p, files); err == nil {
		t.Fatal("Snapshot of a running guest succeeded; want it refused until paused")
	}
	_ = os.Remove(files.State)
	_ = os.Remove(files.Memory)
	if err := h.Driver.Pause(ctx, p); err != nil {
		t.Fatalf("Pause: %v", err)
	}
	if err := h.Driver.Snapshot(ctx, p, files); err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	if paused, err := h.Driver.Paused(ctx, p); err != nil || !paused {
		t.Fatalf("Paused after Snapshot = %v, %v; want true", paused, err)
	}
	if err := h.Driver.Snapshot(ctx, p, files); !errdefs.Is(err, errdefs.AlreadyExists) {
		t.Errorf("Snapshot over existing files = %v, want already_exists", err)
	}
	clone := h.Spec(t)
	clone.Restore = true
	copyFile(t, spec.RootDisk, clone.RootDisk)
	if spec.WorkDisk != "" {
		copyFile(t, spec.WorkDisk, clone.WorkDisk)
	}
	// The original goes on, and stops; its socket files are freed, as the
	// snapshot may name them.
	if err := h.Driver.Resume(ctx, p); err != nil {
		t.Fatalf("Resume of the original after Snapshot: %v", err)
	}
	if err := process.Kill(ctx, p.PID, p.StartTime, killTimeout); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	if spec.VsockPath != "" {
		_ = os.Remove(spec.VsockPath)
	}

	q := launch(t, h.Driver, clone)
	if err := h.Driver.Restore(ctx, clone, q, files); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if paused, err := h.Driver.Paused(ctx, q); err != nil || !paused {
		t.Fatalf("Paused after Restore = %v, %v; want true", paused, err)
	}
	if err := h.Driver.Resume(ctx, q); err != nil {
		t.Fatalf("Resume after Restore: %v", err)
	}
	if err := h.Driver.Shutdown(ctx, q); err != nil {
		t.Fatalf("Shutdown of the restored guest: %v", err)
	}
	if err := process.WaitExit(ctx, q.PID, q.StartTime, h.ShutdownTimeout); err != nil {
		t.Fatalf("the restored guest did not shut down: %v", err)
	}
}

// copyFile copies src to dst.
func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func testKilled(t *testing.T, h Harness) {
	spec := h.Spec(t)
	p := launchBoot(t, h, spec)
	if err := process.Kill(context.Background(), p.PID, p.StartTime, killTimeout); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	if process.Alive(p.PID, p.StartTime) {
		t.Fatal("killed process reported alive")
	}
	if err := h.Driver.Shutdown(context.Background(), p); !errors.Is(err, vmm.ErrNotRunning) {
		t.Fatalf("Shutdown of killed process = %v, want ErrNotRunning", err)
	}
}

func testBadSpec(t *testing.T, h Harness) {
	before := children(t)
	spec := h.Spec(t)
	spec.Kernel = filepath.Join(t.TempDir(), "no-such-vmlinux")
	p, err := h.Driver.Launch(context.Background(), spec)
	if err == nil {
		// Per the contract the caller kills the process when Boot fails.
		berr := h.Driver.Boot(context.Background(), spec, p)
		if kerr := process.Kill(context.Background(), p.PID, p.StartTime, killTimeout); kerr != nil {
			t.Errorf("Kill after failed boot: %v", kerr)
		}
		if berr == nil {
			t.Fatal("Boot with a missing kernel succeeded")
		}
		if !strings.Contains(berr.Error(), "no-such-vmlinux") {
			t.Errorf("Boot error %q does not name the missing kernel", berr)
		}
		if process.Alive(p.PID, p.StartTime) {
			t.Error("process alive after kill")
		}
	} else if !strings.Contains(err.Error(), "no-such-vmlinux") {
		t.Errorf("Launch error %q does not name the missing kernel", err)
	}
	checkNoNewChildren(t, before)
}

// testRuntimeDirChecked launches into a runtime directory that is missing,
// a symlink or open to other users: the driver must refuse each with a
// FailedPrecondition error naming it, start nothing and create nothing.
func testRuntimeDirChecked(t *testing.T, h Harness) {
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string)
	}{
		{"missing", func(t *testing.T, dir string) { mustRemove(t, dir) }},
		{"symlink", func(t *testing.T, dir string) {
			target := t.TempDir() // private, but the link may be a plant
			mustRemove(t, dir)
			if err := os.Symlink(target, dir); err != nil {
				t.Fatal(err)
			}
		}},
		{"group-writable", func(t *testing.T, dir string) {
			if err := os.Chmod(dir, 0o770); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := children(t)
			spec := h.Spec(t)
			tc.setup(t, spec.RuntimeDir)
			was, _ := os.Lstat(spec.RuntimeDir)
			p, err := h.Driver.Launch(context.Background(), spec)
			if err == nil {
				_ = process.Kill(context.Background(), p.PID, p.StartTime, killTimeout)
				t.Fatalf("Launch into a %s runtime directory succeeded: %+v", tc.name, p)
			}
			if got, want := errdefs.KindOf(err), errdefs.FailedPrecondition; got != want {
				t.Errorf("Launch error kind = %q, want %q (%v)", got, want, err)
			}
			if !strings.Contains(err.Error(), spec.RuntimeDir) {
				t.Errorf("Launch error %q does not name the runtime directory", err)
			}
			now, _ := os.Lstat(spec.RuntimeDir)
			if (was == nil) != (now == nil) || was != nil && was.Mode() != now.Mode() {
				t.Errorf("Launch changed the runtime directory: %v, now %v", was, now)
			}
			checkNoNewChildren(t, before)
		})
	}
}

func mustRemove(t *testing.T, p string) {
	t.Helper()
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
}

func testMissingBinary(t *testing.T, h Harness) {
	before := children(t)
	d := h.MissingBinary(t)
	spec := h.Spec(t)
	p, err := d.Launch(context.Background(), spec)
	if err == nil {
		_ = process.Kill(context.Background(), p.PID, p.StartTime, killTimeout)
		t.Fatalf("Launch with a missing binary succeeded: %+v", p)
	}
	if got, want := errdefs.KindOf(err), errdefs.FailedPrecondition; got != want {
		t.Errorf("Launch error kind = %q, want %q (%v)", got, want, err)
	}
	if _, err := d.Check(context.Background()); err == nil {
		t.Error("Check with a missing binary succeeded")
	}
	checkNoNewChildren(t, before)
}

func testTwoVMs(t *testing.T, h Harness) {
	specA, specB := h.Spec(t), h.Spec(t)
	a := launchBoot(t, h, specA)
	b := launchBoot(t, h, specB)
	if a.PID == b.PID || (a.APISocket != "" && a.APISocket == b.APISocket) {
		t.Fatalf("two VMs share a process or socket: %+v, %+v", a, b)
	}
	if err := h.Driver.Shutdown(context.Background(), a); err != nil {
		t.Fatalf("Shutdown A: %v", err)
	}
	if err := process.WaitExit(context.Background(), a.PID, a.StartTime, h.ShutdownTimeout); err != nil {
		t.Fatalf("A did not exit: %v", err)
	}
	if !process.Alive(b.PID, b.StartTime) {
		t.Fatal("B died when A shut down")
	}
	if err := h.Driver.Shutdown(context.Background(), b); err != nil {
		t.Fatalf("Shutdown B: %v", err)
	}
	if err := process.WaitExit(context.Background(), b.PID, b.StartTime, h.ShutdownTimeout); err != nil {
		t.Fatalf("B did not exit: %v", err)
	}
}

func testRelaunchAfterKill(t *testing.T, h Harness) {
	spec := h.Spec(t)
	first := launch(t, h.Driver, spec)
	if err := process.Kill(context.Background(), first.PID, first.StartTime, killTimeout); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	// A crashed VMM leaves its sockets behind; Launch must cope.
	second := launch(t, h.Driver, spec)
	if err := h.Driver.Boot(context.Background(), spec, second); err != nil {
		t.Fatalf("Boot after relaunch: %v", err)
	}
	waitConsole(t, h, spec)
}

// launch launches spec and kills the process when the test ends.
func launch(t *testing.T, d vmm.Driver, spec vmm.Spec) vmm.Process {
	t.Helper()
	p, err := d.Launch(context.Background(), spec)
	if err != nil {
		t.Fatalf("Launch: %v", err)
	}
	t.Cleanup(func() {
		if err := process.Kill(context.Background(), p.PID, p.StartTime, killTimeout); err != nil {
			t.Errorf("cleanup: kill pid %d: %v", p.PID, err)
		}
	})
	return p
}

// launchBoot launches and boots spec and waits for the guest's console.
func launchBoot(t *testing.T, h Harness, spec vmm.Spec) vmm.Process {
	t.Helper()
	p := launch(t, h.Driver, spec)
	if err := h.Driver.Boot(context.Background(), spec, p); err != nil {
		t.Fatalf("Boot: %v", err)
	}
	waitConsole(t, h, spec)
	return p
}

// waitConsole waits until spec's console log shows h.ConsoleReady (or any
// output when that is empty).
func waitConsole(t *testing.T, h Harness, spec vmm.Spec) {
	t.Helper()
	deadline := time.Now().Add(h.BootTimeout)
	for {
		b, err := os.ReadFile(spec.ConsoleLog)
		if err == nil && len(b) > 0 && strings.Contains(string(b), h.ConsoleReady) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("console log %s has no %q after %s; it holds:\n%s", spec.ConsoleLog, h.ConsoleReady, h.BootTimeout, b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
