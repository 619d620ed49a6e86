package vm

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"

	"banger/internal/disk"
	"banger/internal/errdefs"
	"banger/internal/store"
)

// fakeSpace is a filesystem with a fixed number of free bytes; it
// measures files for real and remembers what it was asked.
type fakeSpace struct {
	free  int64
	asked []int64 // the needs CheckRoom was asked about
}

func (f *fakeSpace) CloneCost(path string) (int64, error) {
	u, err := disk.UsageOf(path)
	return u.Allocated, err
}

func (f *fakeSpace) CheckRoom(dir string, need int64, what string) error {
	f.asked = append(f.asked, need)
	if need > f.free {
		return errdefs.Wrap(errdefs.FailedPrecondition, &disk.NoSpaceError{What: what, Path: dir, Need: need, Free: f.free})
	}
	return nil
}

func TestCreateRefusedWhenShortOfSpace(t *testing.T) {
	sp := &fakeSpace{free: 1 << 20}
	e := newEnv(t, envOpts{space: sp})
	_, err := e.svc.Create(context.Background(), "", CreateRequest{Name: "big"}, nil)
	if err == nil {
		t.Fatal("Create succeeded with 1 MiB free")
	}
	if errdefs.KindOf(err) != errdefs.FailedPrecondition || !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("error %v: kind %s, want failed_precondition matching ENOSPC", err, errdefs.KindOf(err))
	}
	for _, want := range []string{"creating VM big", "image default", "only 1.0 MiB is free"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	// The need is the image's allocated blocks plus the least a work disk takes.
	root, _ := sp.CloneCost(e.img.RootFS)
	if want := []int64{root + workDiskFloor}; !cmp.Equal(sp.asked, want) {
		t.Errorf("CheckRoom asked for %v, want %v", sp.asked, want)
	}
	// Nothing was written: no record, no directory, no operation.
	vms, _ := e.store.ListVMs(context.Background())
	if len(vms) != 0 {
		t.Errorf("VM records after a refused create: %v", vms)
	}
	if _, err := os.Stat(filepath.Join(e.root, "state", "vms")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("VM directories were made (err %v)", err)
	}
	ops, _ := e.store.ListOperations(context.Background(), 10)
	if len(ops) != 0 {
		t.Errorf("operations after a refused create: %v", ops)
	}

	sp.free = 1 << 40
	e.create("big")
}

func TestCreateRollsBackWhenTheDiskFills(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.create("before")
	e.disks.failWork = &os.PathError{Op: "write", Path: "work.ext4", Err: syscall.ENOSPC}
	_, err := e.svc.Create(context.Background(), "", CreateRequest{Name: "full"}, nil)
	if err == nil {
		t.Fatal("Create succeeded with a full disk")
	}
	if errdefs.KindOf(err) != errdefs.FailedPrecondition || !strings.Contains(err.Error(), "the VM was not created: free some space") {
		t.Errorf("error %v (kind %s): want a failed_precondition saying the VM was not created", err, errdefs.KindOf(err))
	}
	if _, err := e.store.GetVM(context.Background(), "full"); errdefs.KindOf(err) != errdefs.NotFound {
		t.Errorf("the failed VM's record: %v, want not found", err)
	}
	entries, _ := os.ReadDir(filepath.Join(e.root, "state", "vms"))
	if len(entries) != 1 {
		t.Errorf("VM directories after the failed create: %d, want only the earlier VM's", len(entries))
	}
	if got := e.record("before"); got.State != string(StateStopped) {
		t.Errorf("earlier VM is %s, want stopped", got.State)
	}
}

func TestPrune(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.create("a")
	e.create("b")
	e.create("c")
	e.start("c")
	recA, recB := e.record("a"), e.record("b")
	ctx := context.Background()

	names := func(vs []VM) []string {
		out := []string{}
		for _, v := range vs {
			out = append(out, v.Name)
		}
		sort.Strings(out)
		return out
	}
	dry, err := e.svc.Prune(ctx, "", true, nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"a", "b"}, names(dry)); diff != "" {
		t.Errorf("dry run (-want +got):\n%s", diff)
	}
	if vms, _ := e.store.ListVMs(ctx); len(vms) != 3 {
		t.Fatalf("a dry run deleted VMs: %d left", len(vms))
	}

	got, err := e.svc.Prune(ctx, "op-prune", false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"a", "b"}, names(got)); diff != "" {
		t.Errorf("pruned (-want +got):\n%s", diff)
	}
	for _, rec := range []store.VM{recA, recB} {
		e.assertGone(rec)
	}
	if rec := e.record("c"); rec.State != string(StateRunning) {
		t.Errorf("running VM c is %s after prune", rec.State)
	}
	// Each deletion is its own journaled operation.
	ops, _ := e.store.ListOperations(ctx, 20)
	deletes := 0
	for _, o := range ops {
		if o.Kind == "vm.delete" && strings.HasPrefix(o.ID, "op-prune-") && o.State == "succeeded" {
			deletes++
		}
	}
	if deletes != 2 {
		t.Errorf("vm.delete operations of the prune: %d, want 2 (%+v)", deletes, ops)
	}

	again, err := e.svc.Prune(ctx, "", false, nil)
	if err != nil || len(again) != 0 {
		t.Errorf("second prune = %v, %v; want nothing", names(again), err)
	}
}

// A disk tool that fails without an errno (mkfs.ext4, debugfs) while the
// filesystem is nearly full is taken as having run out of room.
func TestCreateToolFailsOnAFullDisk(t *testing.T) {
	sp := &fakeSpace{free: 1 << 40}
	e := newEnv(t, envOpts{space: sp, hooks: Hooks{BeforeStep: func(kind, step string) error {
		if kind == "vm.create" && step == "create-work-disk" {
			sp.free = 100 << 10
		}
		return nil
	}}})
	e.disks.failWork = errors.New("mkfs.ext4 failed: exit status 1")
	_, err := e.svc.Create(context.Background(), "", CreateRequest{Name: "full"}, nil)
	if errdefs.KindOf(err) != errdefs.FailedPrecondition || !strings.Contains(err.Error(), "the filesystem is full; the VM was not created") {
		t.Errorf("error %v (kind %s): want a failed_precondition saying the filesystem is full", err, errdefs.KindOf(err))
	}

	// The same failure with room to spare is not blamed on space.
	sp.free = 1 << 40
	e.svc.hooks = Hooks{}
	_, err = e.svc.Create(context.Background(), "", CreateRequest{Name: "broken"}, nil)
	if err == nil || errdefs.KindOf(err) == errdefs.FailedPrecondition || strings.Contains(err.Error(), "full") {
		t.Errorf("error %v (kind %s): a tool failure with room left must not be called a full disk", err, errdefs.KindOf(err))
	}
}

// A VM being created is never pruned, and its image stays referenced.
func TestPruneLeavesACreatingVM(t *testing.T) {
	inside, release := make(chan struct{}), make(chan struct{})
	e := newEnv(t, envOpts{hooks: Hooks{BeforeStep: func(kind, step string) error {
		if kind == "vm.create" && step == "create-work-disk" {
			close(inside)
			<-release
		}
		return nil
	}}})
	done := make(chan error, 1)
	go func() {
		_, err := e.svc.Create(context.Background(), "", CreateRequest{Name: "young"}, nil)
		done <- err
	}()
	<-inside
	got, err := e.svc.Prune(context.Background(), "", false, nil)
	close(release)
	if err != nil || len(got) != 0 {
		t.Errorf("Prune during a create = %v, %v; want nothing pruned", got, err)
	}
	if err := <-done; err != nil {
		t.Fatalf("the create was disturbed: %v", err)
	}
	if rec := e.record("young"); rec.State != string(StateStopped) {
		t.Errorf("young is %s, want stopped", rec.State)
	}
	if err := e.store.DeleteImage(context.Background(), e.img.ID); errdefs.KindOf(err) != errdefs.FailedPrecondition {
		t.Errorf("deleting the image of a VM: %v, want failed_precondition", err)
	}
}
