package firecracker

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"banger/internal/errdefs"
	"banger/internal/process"
	"banger/internal/vmm"
	"banger/internal/vmm/firecracker/fctest"
)

func TestCheckVersion(t *testing.T) {
	bin := fctest.Build(t)
	tests := []struct {
		version string
		wantErr string
	}{
		{"1.7.0", ""},
		{"1.5.0", ""},
		{"1.4.0", "firecracker 1.4.0 at " + bin + " is older than 1.5.0, the oldest banger supports: upgrade Firecracker"},
	}
	for _, tc := range tests {
		t.Run(tc.version, func(t *testing.T) {
			t.Setenv("FAKEFC_VERSION", tc.version)
			info, err := New(Config{Binary: bin}).Check(context.Background())
			if diff := cmp.Diff(vmm.Info{Binary: bin, Version: tc.version}, info); diff != "" {
				t.Errorf("Info (-want +got):\n%s", diff)
			}
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Check: %v", err)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), tc.wantErr) {
				t.Fatalf("Check = %v, want %q", err, tc.wantErr)
			}
			if got := errdefs.KindOf(err); got != errdefs.FailedPrecondition {
				t.Errorf("kind = %q, want %q", got, errdefs.FailedPrecondition)
			}
		})
	}
}

func TestShutdownIgnoredThenKilled(t *testing.T) {
	bin := fctest.Build(t)
	t.Setenv("FAKEFC_IGNORE_CTRLALTDEL", "1")
	spec := fakeSpec(t)
	d := New(Config{Binary: bin})
	p := launchFake(t, d, spec)
	if err := d.Boot(context.Background(), spec, p); err != nil {
		t.Fatalf("Boot: %v", err)
	}
	if err := d.Shutdown(context.Background(), p); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	// The caller's contract: wait a bounded time, then kill.
	if err := process.WaitExit(context.Background(), p.PID, p.StartTime, 300*time.Millisecond); !errors.Is(err, process.ErrTimeout) {
		t.Fatalf("WaitExit = %v, want ErrTimeout: the guest should have ignored ctrl-alt-del", err)
	}
	if err := process.Kill(context.Background(), p.PID, p.StartTime, 5*time.Second); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	if err := d.Shutdown(context.Background(), p); !errors.Is(err, vmm.ErrNotRunning) {
		t.Fatalf("Shutdown after kill = %v, want ErrNotRunning", err)
	}
}

func TestLaunchDetachedAndReaped(t *testing.T) {
	bin := fctest.Build(t)
	t.Setenv("FAKEFC_START_DELAY", "300ms") // readiness needs more than one poll
	spec := fakeSpec(t)
	d := New(Config{Binary: bin})
	p := launchFake(t, d, spec)
	if got, want := p.APISocket, filepath.Join(spec.RuntimeDir, "api.sock"); got != want {
		t.Errorf("APISocket = %q, want %q", got, want)
	}
	if sid := statField(t, p.PID, 6); sid != strconv.Itoa(p.PID) {
		t.Errorf("session id = %s, want %d: the VMM must lead its own session", sid, p.PID)
	}
	if err := process.Kill(context.Background(), p.PID, p.StartTime, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	// The driver reaps its child: no zombie stays in /proc.
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := os.Stat("/proc/" + strconv.Itoa(p.PID)); errors.Is(err, os.ErrNotExist) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pid %d still in /proc (state %s) after it was killed", p.PID, statField(t, p.PID, 3))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestLaunchFakeTimeout(t *testing.T) {
	bin := fctest.Build(t)
	t.Setenv("FAKEFC_START_DELAY", "3s")
	spec := fakeSpec(t)
	before, _ := process.FindByArg(spec.ID)
	_, err := New(Config{Binary: bin, LaunchTimeout: 200 * time.Millisecond}).Launch(context.Background(), spec)
	if err == nil || !strings.Contains(err.Error(), "did not answer within 200ms") {
		t.Fatalf("Launch = %v, want a timeout", err)
	}
	if after, _ := process.FindByArg(spec.ID); len(after) > len(before) {
		t.Fatalf("Launch left %v running after a timeout", after)
	}
}
