package images

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"banger/internal/errdefs"
	"banger/internal/store"
)

func TestGetListRemove(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	var registered []Image
	for _, name := range []string{"alpha", "beta", "gamma"} {
		img, err := f.svc.Register(ctx, RegisterRequest{Name: name, RootFS: f.file(t, name+"/rootfs", 2), Kernel: f.file(t, name+"/vmlinux", 1)})
		if err != nil {
			t.Fatalf("Register(%s): %v", name, err)
		}
		registered = append(registered, img)
	}

	got, err := f.svc.List(ctx)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if diff := cmp.Diff(registered, got); diff != "" {
		t.Errorf("List (-want +got):\n%s", diff)
	}

	if _, err := f.svc.Get(ctx, "delta"); errdefs.KindOf(err) != errdefs.NotFound {
		t.Errorf("Get(delta): err = %v, want NotFound", err)
	}

	// Remove by name, then by id.
	if err := f.svc.Remove(ctx, "beta"); err != nil {
		t.Fatalf("Remove(beta): %v", err)
	}
	if err := f.svc.Remove(ctx, registered[0].ID); err != nil {
		t.Fatalf("Remove(%s): %v", registered[0].ID, err)
	}
	got, err = f.svc.List(ctx)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if diff := cmp.Diff(registered[2:], got); diff != "" {
		t.Errorf("List after Remove (-want +got):\n%s", diff)
	}
	if _, err := f.svc.Get(ctx, "beta"); errdefs.KindOf(err) != errdefs.NotFound {
		t.Errorf("Get(beta) after Remove: err = %v, want NotFound", err)
	}
	if err := f.svc.Remove(ctx, "beta"); errdefs.KindOf(err) != errdefs.NotFound {
		t.Errorf("second Remove(beta): err = %v, want NotFound", err)
	}
	// The host files are left alone.
	for _, img := range registered[:2] {
		for _, p := range []string{img.RootFS, img.Kernel} {
			if _, err := os.Stat(p); err != nil {
				t.Errorf("after Remove: %v", err)
			}
		}
	}
}

func TestRemoveImageInUse(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	img, err := f.svc.Register(ctx, RegisterRequest{Name: "base", RootFS: f.file(t, "r", 1), Kernel: f.file(t, "k", 1)})
	if err != nil {
		t.Fatalf("Register: %v", err)
	}
	vm := store.VM{
		ID:        "00000000000000aa",
		Name:      "brave-otter",
		State:     "stopped",
		ImageID:   img.ID,
		VCPUs:     1,
		MemoryMiB: 256,
		Driver:    "firecracker",
		Dir:       filepath.Join(f.dir, "vms", "brave-otter"),
	}
	if err := f.store.CreateVM(ctx, vm); err != nil {
		t.Fatalf("CreateVM: %v", err)
	}

	err = f.svc.Remove(ctx, "base")
	if got, want := errdefs.KindOf(err), errdefs.FailedPrecondition; got != want {
		t.Fatalf("Remove: KindOf(%v) = %q, want %q", err, got, want)
	}
	if got, want := err.Error(), `image "base" is used by VM brave-otter: delete it first with "banger vm delete"`; got != want {
		t.Errorf("Remove: error = %q, want %q", got, want)
	}
	if _, err := f.svc.Get(ctx, "base"); err != nil {
		t.Errorf("Get after refused Remove: %v", err)
	}

	if err := f.store.DeleteVM(ctx, vm.ID); err != nil {
		t.Fatalf("DeleteVM: %v", err)
	}
	if err := f.svc.Remove(ctx, "base"); err != nil {
		t.Errorf("Remove after the VM is gone: %v", err)
	}
}
