package qemu

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"banger/internal/errdefs"
	"banger/internal/vmm"
)

func TestPauseResume(t *testing.T) {
	ctx := context.Background()
	f := newFakeQMP(t)
	d := New(Config{})
	p := self(t, f.path)
	if err := d.Boot(ctx, vmm.Spec{ID: "vm-1"}, p); err != nil {
		t.Fatalf("Boot: %v", err)
	}
	if err := d.Pause(ctx, p); err != nil {
		t.Fatalf("Pause: %v", err)
	}
	if paused, err := d.Paused(ctx, p); err != nil || !paused {
		t.Fatalf("Paused after Pause = %v, %v; want true", paused, err)
	}
	if err := d.Resume(ctx, p); err != nil {
		t.Fatalf("Resume: %v", err)
	}
	if paused, err := d.Paused(ctx, p); err != nil || paused {
		t.Fatalf("Paused after Resume = %v, %v; want false", paused, err)
	}
	want := []string{
		"qmp_capabilities", "cont", "query-status",
		"qmp_capabilities", "stop",
		"qmp_capabilities", "query-status",
		"qmp_capabilities", "cont", "query-status",
		"qmp_capabilities", "query-status",
	}
	if diff := cmp.Diff(want, f.executed()); diff != "" {
		t.Errorf("commands (-want +got):\n%s", diff)
	}
}

// TestResumeShutDownGuest: cont answers success on a guest that shut
// down; Resume must not report it running.
func TestResumeShutDownGuest(t *testing.T) {
	f := newFakeQMP(t)
	f.mu.Lock()
	f.afterCont = "shutdown"
	f.mu.Unlock()
	err := New(Config{}).Resume(context.Background(), self(t, f.path))
	if err == nil || !strings.Contains(err.Error(), `"shutdown", not running`) {
		t.Errorf("Resume error = %v, want one saying the guest is shut down", err)
	}
}

// TestSnapshotRefusesRunningGuest: migrating a running guest to a file
// would save memory that keeps changing under the disk copy; Snapshot
// refuses it before sending migrate.
func TestSnapshotRefusesRunningGuest(t *testing.T) {
	f := newFakeQMP(t)
	f.mu.Lock()
	f.status = "running"
	f.mu.Unlock()
	err := New(Config{}).Snapshot(context.Background(), self(t, f.path), vmm.SnapshotFiles{State: filepath.Join(t.TempDir(), "state")})
	if !errdefs.Is(err, errdefs.FailedPrecondition) || !strings.Contains(err.Error(), "pause it before saving it") {
		t.Errorf("Snapshot of a running guest = %v, want failed_precondition", err)
	}
	for _, c := range f.executed() {
		if c == "migrate" {
			t.Error("migrate was sent for a running guest")
		}
	}
	if err := New(Config{}).Snapshot(context.Background(), self(t, f.path), vmm.SnapshotFiles{State: "/tmp/it's"}); !errdefs.Is(err, errdefs.InvalidArgument) {
		t.Errorf("Snapshot to a path with a quote = %v, want invalid_argument", err)
	}
}
