package images

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"banger/internal/errdefs"
	"banger/internal/store"
)

// fakeBuilder writes a small file per build into spec.Dir/<sha256>/ the
// way the real builder stores images, and records the specs it got.
type fakeBuilder struct {
	mu     sync.Mutex
	specs  []BuildSpec
	n      int
	err    error
	gate   chan struct{} // when set, Build waits for it
	inside chan struct{} // when set, closed once Build has started
}

func (b *fakeBuilder) Build(ctx context.Context, spec BuildSpec, progress func(Progress)) (BuildOutput, error) {
	b.mu.Lock()
	b.specs = append(b.specs, spec)
	b.n++
	n, err, gate, inside := b.n, b.err, b.gate, b.inside
	b.mu.Unlock()
	if progress != nil {
		progress(Progress{Step: "bootstrap", Index: 2, Total: 5})
	}
	if inside != nil {
		close(inside)
	}
	if gate != nil {
		<-gate
	}
	if err != nil {
		return BuildOutput{}, err
	}
	data := []byte(fmt.Sprintf("image %d", n))
	sum := sha256.Sum256(data)
	hexsum := hex.EncodeToString(sum[:])
	dir := filepath.Join(spec.Dir, hexsum)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return BuildOutput{}, err
	}
	p := filepath.Join(dir, "rootfs.ext4")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		return BuildOutput{}, err
	}
	return BuildOutput{RootFS: p, SHA256: hexsum, Size: int64(len(data)), IdentityDisk: true}, nil
}

func newBuildFixture(t *testing.T) (*fixture, *fakeBuilder, string) {
	t.Helper()
	f := newFixture(t)
	b := &fakeBuilder{}
	dir := filepath.Join(f.dir, "state", "images")
	WithBuilder(b, dir)(f.svc)
	return f, b, dir
}

func (f *fixture) addKernel(t *testing.T, name string, initrd bool) store.Kernel {
	t.Helper()
	k := store.Kernel{
		ID: fmt.Sprintf("%016x", len(name)+100), Name: name, Vmlinux: f.file(t, "kernels/"+name+"/vmlinux", 10),
		Source: "built", SHA256: strings.Repeat("ab", 32), Size: 10,
	}
	if initrd {
		k.Initrd = f.file(t, "kernels/"+name+"/initrd.img", 5)
	}
	if err := f.store.CreateKernel(context.Background(), k); err != nil {
		t.Fatal(err)
	}
	return k
}

func TestBuildRecordsImage(t *testing.T) {
	ctx := context.Background()
	f, b, dir := newBuildFixture(t)
	k := f.addKernel(t, "default", false)
	custom := f.addKernel(t, "custom", true)

	var steps []string
	img, err := f.svc.Build(ctx, BuildRequest{}, func(p Progress) { steps = append(steps, p.Step) })
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	if img.Name != "default" || img.Kernel != k.Vmlinux || img.Initrd != "" || !strings.HasPrefix(img.RootFS, dir+"/") || img.RootFSSize != 7 || img.Identity != store.ImageIdentityDisk {
		t.Errorf("Build = %+v, want image default with kernel %s under %s", img, k.Vmlinux, dir)
	}
	if diff := cmp.Diff([]string{"bootstrap"}, steps); diff != "" {
		t.Errorf("progress (-want +got):\n%s", diff)
	}
	got, err := f.svc.Get(ctx, "default")
	if err != nil || !cmp.Equal(got, img) {
		t.Errorf("Get(default) = %+v, %v; want %+v", got, err, img)
	}

	img2, err := f.svc.Build(ctx, BuildRequest{Name: "dev", Suite: "trixie", Packages: []string{"htop"}, Kernel: "custom"}, nil)
	if err != nil {
		t.Fatalf("Build(dev): %v", err)
	}
	if img2.Kernel != custom.Vmlinux || img2.Initrd != custom.Initrd {
		t.Errorf("Build(dev) kernel %s initrd %s, want %s %s", img2.Kernel, img2.Initrd, custom.Vmlinux, custom.Initrd)
	}
	want := []BuildSpec{{Dir: dir}, {Suite: "trixie", Packages: []string{"htop"}, Dir: dir}}
	if diff := cmp.Diff(want, b.specs); diff != "" {
		t.Errorf("build specs (-want +got):\n%s", diff)
	}
}

func TestBuildRefusals(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name  string
		setup func(t *testing.T, f *fixture, b *fakeBuilder)
		req   BuildRequest
		kind  errdefs.Kind
		msg   string
	}{
		{"no kernel", nil, BuildRequest{}, errdefs.NotFound, "banger kernel build"},
		{"bad name", nil, BuildRequest{Name: "Bad"}, errdefs.InvalidArgument, "invalid image name"},
		{"name taken", func(t *testing.T, f *fixture, _ *fakeBuilder) {
			f.addKernel(t, "default", false)
			if _, err := f.svc.Register(ctx, RegisterRequest{Name: "default", RootFS: f.file(t, "r", 1), Kernel: f.file(t, "k", 1)}); err != nil {
				t.Fatal(err)
			}
		}, BuildRequest{}, errdefs.AlreadyExists, "already exists"},
		{"builder fails", func(t *testing.T, f *fixture, b *fakeBuilder) {
			f.addKernel(t, "default", false)
			b.err = errdefs.FailedPreconditionf("mmdebstrap not found")
		}, BuildRequest{}, errdefs.FailedPrecondition, "mmdebstrap"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, b, dir := newBuildFixture(t)
			if tt.setup != nil {
				tt.setup(t, f, b)
			}
			_, err := f.svc.Build(ctx, tt.req, nil)
			if errdefs.KindOf(err) != tt.kind || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("Build = %v (%s), want %s containing %q", err, errdefs.KindOf(err), tt.kind, tt.msg)
			}
			if tt.name != "builder fails" && len(b.specs) != 0 {
				t.Errorf("the builder ran for a refused request")
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Errorf("image store holds %v after a refused build", entries)
			}
		})
	}
}

func TestBuildSameNameConcurrently(t *testing.T) {
	ctx := context.Background()
	f, b, _ := newBuildFixture(t)
	f.addKernel(t, "default", false)
	b.gate, b.inside = make(chan struct{}), make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		_, err := f.svc.Build(ctx, BuildRequest{}, nil)
		errc <- err
	}()
	<-b.inside
	_, err := f.svc.Build(ctx, BuildRequest{}, nil)
	if errdefs.KindOf(err) != errdefs.AlreadyExists || !strings.Contains(err.Error(), "being built") {
		t.Errorf("second Build = %v, want AlreadyExists (being built)", err)
	}
	close(b.gate)
	if err := <-errc; err != nil {
		t.Fatalf("first Build: %v", err)
	}
}

func TestWithoutBuilder(t *testing.T) {
	f := newFixture(t)
	_, err := f.svc.Build(context.Background(), BuildRequest{}, nil)
	if errdefs.KindOf(err) != errdefs.FailedPrecondition {
		t.Errorf("Build without a builder = %v, want FailedPrecondition", err)
	}
}

func TestRemoveDeletesOnlyBuiltFiles(t *testing.T) {
	ctx := context.Background()
	f, _, dir := newBuildFixture(t)
	f.addKernel(t, "default", false)
	built, err := f.svc.Build(ctx, BuildRequest{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// A registered image whose file happens to lie in the image store's
	// parent, and one elsewhere: neither file may be deleted.
	outside := f.file(t, "state/images-other/rootfs.ext4", 1)
	loose := f.file(t, "state/images/loose.ext4", 1)
	for i, p := range []string{outside, loose} {
		if _, err := f.svc.Register(ctx, RegisterRequest{Name: fmt.Sprintf("reg%d", i), RootFS: p, Kernel: f.file(t, "k", 1)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"reg0", "reg1", "default"} {
		if err := f.svc.Remove(ctx, name); err != nil {
			t.Fatalf("Remove(%s): %v", name, err)
		}
	}
	for _, p := range []string{outside, loose} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("registered image file %s was deleted: %v", p, err)
		}
	}
	if _, err := os.Stat(filepath.Dir(built.RootFS)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("built image directory still exists after rm (err %v)", err)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Errorf("image store directory itself was removed: %v", err)
	}
}
