package vm

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"banger/internal/errdefs"
	"banger/internal/store"
	"banger/internal/vmm"
	"banger/internal/vmm/firecracker/fctest"
)

// TestWarmKey: the key changes with every input a resumed VM must agree
// on with a cold-booted one, and only with those.
func TestWarmKey(t *testing.T) {
	e := newEnv(t, envOpts{})
	img := e.img
	key := func(img store.Image, driver string, vcpus, mem int, disk int64) string {
		t.Helper()
		k, err := e.svc.warmKey(img, driver, vcpus, mem, disk)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	base := key(img, "firecracker", 1, 128, 64<<20)
	if again := key(img, "firecracker", 1, 128, 64<<20); again != base || len(base) != 64 {
		t.Fatalf("the key is not stable: %s then %s", base, again)
	}
	other := img
	other.ID = NewID()
	pulled := img
	pulled.Digest = "sha256:" + strings.Repeat("1", 64)
	for name, k := range map[string]string{
		"driver": key(img, "qemu", 1, 128, 64<<20),
		"vcpus":  key(img, "firecracker", 2, 128, 64<<20),
		"memory": key(img, "firecracker", 1, 256, 64<<20),
		"disk":   key(img, "firecracker", 1, 128, 128<<20),
		"image":  key(other, "firecracker", 1, 128, 64<<20),
		"digest": key(pulled, "firecracker", 1, 128, 64<<20),
	} {
		if k == base {
			t.Errorf("a different %s gives the same key", name)
		}
	}
	// A kernel replaced at the same path (a new inode), and a root
	// filesystem rewritten in place, change it.
	replaced := filepath.Join(filepath.Dir(img.Kernel), "vmlinux.new")
	fctest.WriteKernel(t, replaced)
	if err := os.Rename(replaced, img.Kernel); err != nil {
		t.Fatal(err)
	}
	afterKernel := key(img, "firecracker", 1, 128, 64<<20)
	if afterKernel == base {
		t.Error("a replaced kernel gives the same key")
	}
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(img.RootFS, later, later); err != nil {
		t.Fatal(err)
	}
	if key(img, "firecracker", 1, 128, 64<<20) == afterKernel {
		t.Error("a rewritten root filesystem gives the same key")
	}
	gone := img
	gone.Kernel = filepath.Join(t.TempDir(), "missing")
	if _, err := e.svc.warmKey(gone, "firecracker", 1, 128, 64<<20); err == nil {
		t.Error("a missing kernel gave a key")
	}
}

// settingsDriver is a driver with boot settings (vmm.BootSettings); only
// its BootSettings is called.
type settingsDriver struct {
	vmm.Driver
	settings string
}

func (d settingsDriver) BootSettings() string { return d.settings }

// TestWarmKeyBootSettings: a driver's boot settings (the qemu driver's
// vmm.tcg_aslr) are part of the key, so a warm snapshot made under other
// settings is not resumed.
func TestWarmKeyBootSettings(t *testing.T) {
	e := newEnv(t, envOpts{})
	key := func() string {
		t.Helper()
		k, err := e.svc.warmKey(e.img, "qemu", 1, 128, 64<<20)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	e.svc.drivers["qemu"] = settingsDriver{settings: "tcg_aslr=false"}
	off := key()
	if key() != off {
		t.Fatal("the key is not stable")
	}
	e.svc.drivers["qemu"] = settingsDriver{settings: "tcg_aslr=true"}
	if key() == off {
		t.Error("other boot settings give the same key")
	}
}

// warmSnapshot snapshots the running VM src as name and marks it the
// warm snapshot for the default shape of the env's image.
func (e *env) warmSnapshot(src, name string) (Snapshot, string) {
	e.t.Helper()
	ctx := context.Background()
	sn, err := e.svc.SnapshotVM(ctx, "", src, name, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	img, err := e.store.GetImage(ctx, e.img.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	key, err := e.svc.warmKey(img, "firecracker", 1, 128, 64<<20)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.store.MarkWarm(ctx, sn.ID, key); err != nil {
		e.t.Fatal(err)
	}
	return sn, key
}

// TestFindWarm: a warm snapshot matches a request of its image and shape
// (defaults filled in), not another shape; a plain snapshot never
// matches; once the image's kernel is replaced the warm snapshot is stale
// and is removed by the next look-up.
func TestFindWarm(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, envOpts{})
	e.create("src")
	e.start("src")
	if _, err := e.svc.SnapshotVM(ctx, "", "src", "plain", nil); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := e.svc.FindWarm(ctx, CreateRequest{}); err != nil || ok {
		t.Fatalf("FindWarm with only a plain snapshot = %v, %v; want none", ok, err)
	}
	warm, _ := e.warmSnapshot("src", "w")
	got, ok, err := e.svc.FindWarm(ctx, CreateRequest{})
	if err != nil || !ok || got.ID != warm.ID || !got.Warm {
		t.Fatalf("FindWarm(defaults) = %+v, %v, %v; want warm snapshot w", got, ok, err)
	}
	if got, ok, _ := e.svc.FindWarm(ctx, CreateRequest{Image: "default", VCPUs: 1, MemoryMiB: 128, DiskBytes: 64 << 20}); !ok || got.ID != warm.ID {
		t.Errorf("FindWarm with the shape spelled out = %v, want w", ok)
	}
	if _, ok, _ := e.svc.FindWarm(ctx, CreateRequest{MemoryMiB: 256}); ok {
		t.Error("a warm snapshot of 128 MiB matched a 256 MiB request")
	}
	if p, err := e.svc.GetSnapshot(ctx, "plain"); err != nil || p.Warm {
		t.Errorf("the plain snapshot reads as warm: %+v, %v", p, err)
	}

	// The kernel is replaced: the warm snapshot is stale.
	replaced := e.img.Kernel + ".new"
	fctest.WriteKernel(t, replaced)
	if err := os.Rename(replaced, e.img.Kernel); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := e.svc.FindWarm(ctx, CreateRequest{}); err != nil || ok {
		t.Fatalf("FindWarm after the kernel changed = %v, %v; want none", ok, err)
	}
	if _, err := e.svc.GetSnapshot(ctx, "w"); !errdefs.Is(err, errdefs.NotFound) {
		t.Errorf("the stale warm snapshot is still there: %v", err)
	}
	if _, err := os.Stat(warm.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the stale warm snapshot's files are still there: %v", err)
	}
	if _, err := e.svc.GetSnapshot(ctx, "plain"); err != nil {
		t.Errorf("the plain snapshot went with the stale warm one: %v", err)
	}
}

// TestRemoveWarm: an image's warm snapshots go when it is removed, plain
// ones stay; while a VM uses the image nothing is removed.
func TestRemoveWarm(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, envOpts{})
	e.create("src")
	e.start("src")
	e.warmSnapshot("src", "w")
	if _, err := e.svc.SnapshotVM(ctx, "", "src", "plain", nil); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.RemoveWarm(ctx, e.img.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.GetSnapshot(ctx, "w"); err != nil {
		t.Errorf("the warm snapshot was removed while VM src uses the image: %v", err)
	}
	if err := e.svc.Delete(ctx, "", "src", nil); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.RemoveWarm(ctx, e.img.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.GetSnapshot(ctx, "w"); !errdefs.Is(err, errdefs.NotFound) {
		t.Errorf("the warm snapshot is still there: %v", err)
	}
	if _, err := e.svc.GetSnapshot(ctx, "plain"); err != nil {
		t.Errorf("a plain snapshot was removed: %v", err)
	}
}

// TestWarmFailureLeavesNothing: a warm build whose builder VM never gets
// ready (this service has no agent) deletes the builder and leaves no
// snapshot.
func TestWarmFailureLeavesNothing(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, envOpts{})
	_, made, err := e.svc.Warm(ctx, "op1", CreateRequest{}, nil)
	if err == nil || made || !strings.Contains(err.Error(), "warm start") {
		t.Fatalf("Warm without an agent = made %v, %v; want a warm start error", made, err)
	}
	if vms, _ := e.store.ListVMs(ctx); len(vms) != 0 {
		t.Errorf("builder VMs left: %+v", vms)
	}
	if snaps, _ := e.svc.Snapshots(ctx); len(snaps) != 0 {
		t.Errorf("snapshots left: %+v", snaps)
	}
	o, err := e.store.GetOperation(ctx, "op1-delete")
	if err != nil || o.Kind != "vm.delete" || o.State != "succeeded" {
		t.Errorf("the builder's delete: %+v, %v", o, err)
	}
}

// TestWarmBuilderLabelReserved: clients cannot make VMs that look like
// warm builders (reconcile deletes those).
func TestWarmBuilderLabelReserved(t *testing.T) {
	e := newEnv(t, envOpts{})
	_, err := e.svc.Create(context.Background(), "", CreateRequest{Name: "x", Labels: map[string]string{warmLabel: "k"}}, nil)
	if !errdefs.Is(err, errdefs.InvalidArgument) {
		t.Errorf("Create with the %s label = %v, want invalid_argument", warmLabel, err)
	}
}

// TestReconcileRemovesWarmBuilders: a builder VM a killed daemon left
// running is deleted at start-up; a VM that merely carries a similar
// name is not.
func TestReconcileRemovesWarmBuilders(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, envOpts{})
	key := strings.Repeat("ab", 32)
	b, err := e.svc.create(ctx, "", CreateRequest{Name: warmName(key), Labels: map[string]string{warmLabel: key}, Start: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	builder := e.record(b.ID)
	e.create(warmName(strings.Repeat("cd", 32)))
	if err := e.svc.removeWarmBuilders(ctx); err != nil {
		t.Fatal(err)
	}
	e.assertGone(builder)
	if _, err := e.store.GetVM(ctx, warmName(strings.Repeat("cd", 32))); err != nil {
		t.Errorf("a VM without the builder label was deleted: %v", err)
	}
}

// TestCreateWarm: a warm create resumes the matching warm snapshot (the
// VM records it) and boots when the shape differs; a create without Warm
// (vm run --cold, vm create) boots.
func TestCreateWarm(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, envOpts{warmStart: true})
	e.create("src")
	e.start("src")
	e.warmSnapshot("src", "w")

	v, err := e.svc.Create(ctx, "", CreateRequest{Name: "resumed", Warm: true}, nil)
	if err != nil {
		t.Fatalf("warm create: %v", err)
	}
	if v.Snapshot != "w" || v.State != StateRunning {
		t.Errorf("warm create = snapshot %q, %s; want resumed from w and running", v.Snapshot, v.State)
	}
	if o, _ := e.lastOp(v.ID); o.Kind != restoreKind {
		t.Errorf("warm create ran %s, want %s", o.Kind, restoreKind)
	}
	cold, err := e.svc.Create(ctx, "", CreateRequest{Name: "cold", Start: true}, nil)
	if err != nil || cold.Snapshot != "" {
		t.Errorf("create without warm = snapshot %q, %v; want a boot", cold.Snapshot, err)
	}
	// The warm snapshot is in use by the resumed VM: prune keeps it.
	if got, _ := e.svc.PruneSnapshots(ctx, "", true, nil); len(got) != 0 {
		t.Errorf("prune would remove %+v while a VM was made from the warm snapshot", got)
	}
	other, err := e.svc.Create(ctx, "", CreateRequest{Name: "bigger", Warm: true, MemoryMiB: 256}, nil)
	if err != nil || other.Snapshot != "" || other.State != StateRunning {
		t.Errorf("warm create of another shape = snapshot %q, %s, %v; want a boot", other.Snapshot, other.State, err)
	}
}

// TestCreateWarmOff: with warm start off a warm create boots even when a
// warm snapshot matches.
func TestCreateWarmOff(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, envOpts{})
	e.create("src")
	e.start("src")
	e.warmSnapshot("src", "w")
	off, err := e.svc.Create(ctx, "", CreateRequest{Name: "off", Warm: true}, nil)
	if err != nil || off.Snapshot != "" || off.State != StateRunning {
		t.Errorf("warm create with warm start off = snapshot %q, %s, %v; want a boot", off.Snapshot, off.State, err)
	}
}
