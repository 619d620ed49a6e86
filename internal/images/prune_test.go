package images

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"

	"banger/internal/store"
)

func TestPrune(t *testing.T) {
	ctx := context.Background()
	f, _, _ := newBuildFixture(t)
	k := f.addKernel(t, "default", false)
	def, err := f.svc.Build(ctx, BuildRequest{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	unusedBuilt, err := f.svc.Build(ctx, BuildRequest{Name: "old"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	used, err := f.svc.Register(ctx, RegisterRequest{Name: "used", RootFS: f.file(t, "used.ext4", 1), Kernel: f.file(t, "k", 1)})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := f.svc.Register(ctx, RegisterRequest{Name: "reg", RootFS: f.file(t, "reg.ext4", 1), Kernel: f.file(t, "k", 1)})
	if err != nil {
		t.Fatal(err)
	}
	vm := store.VM{ID: "00000000000000aa", Name: "brave-otter", State: "stopped", ImageID: used.ID,
		VCPUs: 1, MemoryMiB: 256, Driver: "firecracker", Dir: filepath.Join(f.dir, "vms", "x")}
	if err := f.store.CreateVM(ctx, vm); err != nil {
		t.Fatal(err)
	}
	names := func(imgs []Image) []string {
		out := []string{}
		for _, i := range imgs {
			out = append(out, i.Name)
		}
		sort.Strings(out)
		return out
	}

	dry, err := f.svc.Prune(ctx, []string{"default"}, true)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"old", "reg"}, names(dry)); diff != "" {
		t.Errorf("dry run (-want +got):\n%s", diff)
	}
	if all, _ := f.svc.List(ctx); len(all) != 4 {
		t.Fatalf("a dry run removed images: %d left", len(all))
	}
	if f.svc.FilesDir(unusedBuilt) != filepath.Dir(unusedBuilt.RootFS) || f.svc.FilesDir(reg) != "" {
		t.Errorf("FilesDir: built %q, registered %q", f.svc.FilesDir(unusedBuilt), f.svc.FilesDir(reg))
	}

	got, err := f.svc.Prune(ctx, []string{"default"}, false)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"old", "reg"}, names(got)); diff != "" {
		t.Errorf("pruned (-want +got):\n%s", diff)
	}
	left, _ := f.svc.List(ctx)
	if diff := cmp.Diff([]string{"default", "used"}, names(left)); diff != "" {
		t.Errorf("images left (-want +got):\n%s", diff)
	}
	if _, err := os.Stat(filepath.Dir(unusedBuilt.RootFS)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the pruned built image's files are still there (err %v)", err)
	}
	for _, p := range []string{reg.RootFS, def.RootFS, k.Vmlinux} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s was deleted: %v", p, err)
		}
	}
	if _, err := f.store.GetKernel(ctx, "default"); err != nil {
		t.Errorf("the kernel was removed: %v", err)
	}
}
