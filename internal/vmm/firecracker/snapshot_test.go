package firecracker

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"banger/internal/process"
	"banger/internal/vmm"
	"banger/internal/vmm/firecracker/fctest"
)

// TestSnapshotWrongState: the errors Firecracker returns for a snapshot
// asked in the wrong state reach the caller: saving a microVM whose vCPUs
// run, and loading a snapshot into a microVM that already booted.
func TestSnapshotWrongState(t *testing.T) {
	ctx := context.Background()
	d := New(Config{Binary: fctest.Build(t)})
	spec := fakeSpec(t)
	p := launchFake(t, d, spec)
	if err := d.Boot(ctx, spec, p); err != nil {
		t.Fatalf("Boot: %v", err)
	}
	dir := t.TempDir()
	files := vmm.SnapshotFiles{State: filepath.Join(dir, "state"), Memory: filepath.Join(dir, "memory")}
	err := d.Snapshot(ctx, p, files)
	var apiErr *APIError
	if err == nil || !strings.Contains(err.Error(), "save/restore unavailable while running") || !asAPIError(err, &apiErr) || apiErr.StatusCode != 400 {
		t.Errorf("Snapshot of a running microVM = %v, want Firecracker's 400 refusal", err)
	}
	if err := d.Pause(ctx, p); err != nil {
		t.Fatal(err)
	}
	if err := d.Snapshot(ctx, p, files); err != nil {
		t.Fatalf("Snapshot of the paused microVM: %v", err)
	}
	// Loading into a booted microVM is refused (without a metrics file,
	// so that the load itself is what is sent first).
	spec.Restore, spec.MetricsPath = true, ""
	err = d.Restore(ctx, spec, p, files)
	if err == nil || !strings.Contains(err.Error(), "restore step snapshot-load") || !strings.Contains(err.Error(), "not supported after starting the microVM") {
		t.Errorf("Restore into a booted microVM = %v, want the post-boot refusal", err)
	}
}

// TestRestoreRequestSequence: Restore configures only what may precede a
// load (metrics), loads with the memory file backend without resuming,
// with the new VM's tap and vsock socket as overrides, then sets the
// drives again to the new VM's drive links. The saved microVM still runs beside it,
// holding its own tap name and socket.
func TestRestoreRequestSequence(t *testing.T) {
	ctx := context.Background()
	d := New(Config{Binary: fctest.Build(t)})
	orig := fakeSpec(t)
	orig.Tap, orig.MAC = "bgtestparent0", "02:fc:00:00:00:01"
	p, files := bootAndSnapshot(t, d, orig)
	if err := d.Resume(ctx, p); err != nil {
		t.Fatal(err)
	}

	record := filepath.Join(t.TempDir(), "record.jsonl")
	t.Setenv("FAKEFC_RECORD", record)
	spec := fakeSpec(t)
	spec.Restore, spec.Tap, spec.MAC = true, "bgtestfork0", "02:fc:00:00:00:02"
	q := launchFake(t, d, spec)
	if err := d.Restore(ctx, spec, q, files); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if paused, err := d.Paused(ctx, q); err != nil || !paused {
		t.Errorf("Paused after Restore = %v, %v; want true", paused, err)
	}
	req := func(method, path string, v any) fctest.Request {
		return fctest.Request{Method: method, Path: path, Body: body(t, v), Status: 204}
	}
	want := []fctest.Request{
		{Method: "GET", Path: "/", Status: 200},
		req("PUT", "/metrics", map[string]any{"metrics_path": spec.MetricsPath}),
		req("PUT", "/snapshot/load", map[string]any{"snapshot_path": files.State, "resume_vm": false,
			"mem_backend":       map[string]any{"backend_type": "File", "backend_path": files.Memory},
			"network_overrides": []any{map[string]any{"iface_id": "eth0", "host_dev_name": spec.Tap}},
			"vsock_override":    map[string]any{"uds_path": spec.VsockPath}}),
		req("PATCH", "/drives/rootfs", map[string]any{"drive_id": "rootfs", "path_on_host": "drives/rootfs"}),
		req("PATCH", "/drives/work", map[string]any{"drive_id": "work", "path_on_host": "drives/work"}),
		{Method: "GET", Path: "/", Status: 200},
	}
	if diff := cmp.Diff(want, readRecord(t, record), jsonBody); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
	if err := process.Kill(ctx, p.PID, p.StartTime, 5*time.Second); err != nil {
		t.Fatal(err)
	}
}

func asAPIError(err error, target **APIError) bool { return errors.As(err, target) }

// TestRestoreWithoutParentDisks: a snapshot names no disk of the VM it was
// taken of, so it loads after that VM and its whole directory are gone,
// and the restored firecracker opens only the new VM's disks. (With the
// parent's absolute paths in the state, the load fails on the missing
// disks, and while they exist it opens them.)
func TestRestoreWithoutParentDisks(t *testing.T) {
	ctx := context.Background()
	d := New(Config{Binary: fctest.Build(t)})
	orig := fakeSpec(t)
	orig.IdentityDisk = filepath.Join(filepath.Dir(orig.RootDisk), "identity.img")
	if err := os.WriteFile(orig.IdentityDisk, make([]byte, 4096), 0o600); err != nil {
		t.Fatal(err)
	}
	p, files := bootAndSnapshot(t, d, orig)
	if err := process.Kill(ctx, p.PID, p.StartTime, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	parentDir := filepath.Dir(orig.RootDisk)
	if err := os.RemoveAll(parentDir); err != nil {
		t.Fatal(err)
	}

	opened := filepath.Join(t.TempDir(), "opened")
	t.Setenv("FAKEFC_OPENED", opened)
	spec := fakeSpec(t)
	spec.Restore = true
	spec.IdentityDisk = filepath.Join(filepath.Dir(spec.RootDisk), "identity.img")
	if err := os.WriteFile(spec.IdentityDisk, make([]byte, 4096), 0o600); err != nil {
		t.Fatal(err)
	}
	q := launchFake(t, d, spec)
	if err := d.Restore(ctx, spec, q, files); err != nil {
		t.Fatalf("Restore after the parent's disks were removed: %v", err)
	}
	data, err := os.ReadFile(opened)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		given, reached, _ := strings.Cut(line, "\t")
		if strings.HasPrefix(reached, parentDir+"/") || strings.HasPrefix(given, parentDir+"/") {
			t.Errorf("the restored firecracker opened %s (given %s) of the parent VM", reached, given)
		}
		got = append(got, reached)
	}
	// The load opens each drive, and the PATCH after it once more.
	want := []string{spec.RootDisk, spec.WorkDisk, spec.IdentityDisk, spec.RootDisk, spec.WorkDisk, spec.IdentityDisk}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("drive files the restored firecracker opened (-want +got):\n%s", diff)
	}
	if err := d.Resume(ctx, q); err != nil {
		t.Fatalf("Resume: %v", err)
	}
}

// TestRestoreLegacySnapshot: a snapshot whose state names its VM's own
// disks by absolute path (as banger saved them before drive links) still
// restores while those disks exist, and the drives end on the new VM's
// disks; once they are gone the load fails, saying what to do.
func TestRestoreLegacySnapshot(t *testing.T) {
	ctx := context.Background()
	d := New(Config{Binary: fctest.Build(t)})
	orig := fakeSpec(t)
	p := launchFake(t, d, orig)
	if err := d.Boot(ctx, orig, p); err != nil {
		t.Fatalf("Boot: %v", err)
	}
	// What an older banger configured: the disks' own paths.
	c := NewClient(p.APISocket, 0)
	for id, disk := range map[string]string{RootDriveID: orig.RootDisk, WorkDriveID: orig.WorkDisk} {
		if err := c.PatchDrive(ctx, PartialDrive{DriveID: id, PathOnHost: disk}); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Pause(ctx, p); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	files := vmm.SnapshotFiles{State: filepath.Join(dir, "state"), Memory: filepath.Join(dir, "memory")}
	if err := d.Snapshot(ctx, p, files); err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	if err := process.Kill(ctx, p.PID, p.StartTime, 5*time.Second); err != nil {
		t.Fatal(err)
	}

	opened := filepath.Join(t.TempDir(), "opened")
	t.Setenv("FAKEFC_OPENED", opened)
	spec := fakeSpec(t)
	spec.Restore = true
	q := launchFake(t, d, spec)
	if err := d.Restore(ctx, spec, q, files); err != nil {
		t.Fatalf("Restore while the parent's disks exist: %v", err)
	}
	data, err := os.ReadFile(opened)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		_, reached, _ := strings.Cut(line, "\t")
		got = append(got, reached)
	}
	// The load opens the recorded (parent's) disks; the PATCH moves the
	// drives to the new VM's.
	want := []string{orig.RootDisk, orig.WorkDisk, spec.RootDisk, spec.WorkDisk}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("drive files the restored firecracker opened (-want +got):\n%s", diff)
	}

	if err := os.Remove(orig.RootDisk); err != nil {
		t.Fatal(err)
	}
	other := fakeSpec(t)
	other.Restore = true
	r := launchFake(t, d, other)
	err = d.Restore(ctx, other, r, files)
	if err == nil || !strings.Contains(err.Error(), "Error manipulating the backing file") || !strings.Contains(err.Error(), "take a new snapshot") {
		t.Errorf("Restore after the parent's disk was removed = %v, want the load's refusal with what to do", err)
	}
}

// TestRestoreTooOldFirecracker: a Firecracker that does not know the
// load's overrides refuses the unknown field, and the error names the
// versions that have them.
func TestRestoreTooOldFirecracker(t *testing.T) {
	s := newAPIServer(t, map[string]reply{
		"PUT /snapshot/load": {400, `{"fault_message":"An error occurred when deserializing the json body of a request: unknown field ` + "`vsock_override`" + `, expected one of ` + "`snapshot_path`" + `"}`},
	})
	spec := specFiles(t)
	spec.Restore, spec.MetricsPath = true, ""
	if err := os.Mkdir(spec.RuntimeDir, 0o700); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	files := vmm.SnapshotFiles{State: filepath.Join(dir, "state"), Memory: filepath.Join(dir, "memory")}
	err := New(Config{}).Restore(context.Background(), spec, selfProcess(t, s.socket), files)
	if err == nil || !strings.Contains(err.Error(), "unknown field `vsock_override`") || !strings.Contains(err.Error(), "vsock_override (1.16 and later)") || !strings.Contains(err.Error(), "upgrade Firecracker to 1.16") {
		t.Errorf("Restore on a Firecracker without the overrides = %v, want the refusal naming the versions", err)
	}
}

// bootAndSnapshot launches the fake for spec, boots it, pauses it and saves
// it; the microVM stays paused.
func bootAndSnapshot(t *testing.T, d *Driver, spec vmm.Spec) (vmm.Process, vmm.SnapshotFiles) {
	t.Helper()
	ctx := context.Background()
	p := launchFake(t, d, spec)
	if err := d.Boot(ctx, spec, p); err != nil {
		t.Fatalf("Boot: %v", err)
	}
	if err := d.Pause(ctx, p); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	files := vmm.SnapshotFiles{State: filepath.Join(dir, "state"), Memory: filepath.Join(dir, "memory")}
	if err := d.Snapshot(ctx, p, files); err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	return p, files
}
