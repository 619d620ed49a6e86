package images

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"banger/internal/errdefs"
)

// fakePuller serves images from a map and keeps a layer cache as a set:
// Fetch adds an image's layers to it, RemoveUnusedLayers drops the ones
// not kept, Flatten writes a file naming the image.
type fakePuller struct {
	mu         sync.Mutex
	images     map[string]Pulled // normalised ref → image
	cache      map[string]bool
	fetches    int
	flattenErr error
	disks      int // MakeBootable calls
	diskErr    error
}

func newFakePuller() *fakePuller {
	return &fakePuller{images: map[string]Pulled{}, cache: map[string]bool{}}
}

func (f *fakePuller) Normalize(ref string) (string, error) {
	if strings.Contains(ref, " ") {
		return "", errdefs.InvalidArgumentf("%q is not an image reference", ref)
	}
	if !strings.Contains(ref, "/") {
		ref = "index.docker.io/library/" + ref
	}
	return ref, nil
}

func (f *fakePuller) Fetch(ctx context.Context, ref string, progress func(LayerProgress)) (Pulled, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fetches++
	img, ok := f.images[ref]
	if !ok {
		return Pulled{}, errdefs.NotFoundf("pull %s: no such image", ref)
	}
	for _, l := range img.Layers {
		progress(LayerProgress{Layer: l.Digest, Done: l.Size, Total: l.Size, Cached: f.cache[l.Digest]})
		f.cache[l.Digest] = true
	}
	return img, nil
}

func (f *fakePuller) Flatten(ctx context.Context, img Pulled, dest string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.flattenErr != nil {
		return f.flattenErr
	}
	return os.WriteFile(dest, []byte(img.Ref), 0o644)
}

// MakeBootable copies the tar's bytes to dest behind a marker, so a test
// can tell the disk came from the tar; images whose tar names "systemd"
// boot with systemd.
func (f *fakePuller) MakeBootable(ctx context.Context, tar, dest string, progress func(string)) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.disks++
	if f.diskErr != nil {
		return "", f.diskErr
	}
	b, err := os.ReadFile(tar)
	if err != nil {
		return "", err
	}
	if progress != nil {
		progress("mkfs")
	}
	init := InitAgent
	if strings.Contains(string(b), "systemd") {
		init = InitSystemd
	}
	return init, os.WriteFile(dest, append([]byte("ext4:"), b...), 0o644)
}

func (f *fakePuller) RemoveUnusedLayers(keep map[string]bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for d := range f.cache {
		if !keep[d] {
			delete(f.cache, d)
		}
	}
	return nil
}

func (f *fakePuller) CachedLayers() ([]CachedLayer, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := []CachedLayer{}
	for d := range f.cache {
		out = append(out, CachedLayer{Digest: d, Path: "/cache/" + d})
	}
	slices.SortFunc(out, func(a, b CachedLayer) int { return strings.Compare(a.Digest, b.Digest) })
	return out, nil
}

func (f *fakePuller) cached() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for d := range f.cache {
		out = append(out, d)
	}
	slices.Sort(out)
	return out
}

func digest(c byte) string { return "sha256:" + strings.Repeat(string(c), 64) }

// pullFixture is a Service that can pull from a fakePuller into dir.
func pullFixture(t *testing.T) (*fixture, *fakePuller, string) {
	t.Helper()
	f := newFixture(t)
	p := newFakePuller()
	dir := f.subdir(t, "images")
	WithPuller(p, dir)(f.svc)
	f.addKernel(t, DefaultKernel, true)
	p.images["index.docker.io/library/debian:12"] = Pulled{Ref: "index.docker.io/library/debian:12", Digest: digest('d'),
		Config: RunConfig{Env: []string{"PATH=/bin"}, Cmd: []string{"bash"}, User: "root", WorkingDir: "/"},
		Layers: []PulledLayer{{Digest: digest('1'), Size: 10}, {Digest: digest('2'), Size: 20}}}
	p.images["index.docker.io/library/app:1"] = Pulled{Ref: "index.docker.io/library/app:1", Digest: digest('e'),
		Layers: []PulledLayer{{Digest: digest('1'), Size: 10}, {Digest: digest('3'), Size: 30}}}
	return f, p, dir
}

// TestPull: a pulled image is recorded as ready, booting the default
// kernel from the root disk made of its flattened tree, with its source,
// digest, run config (and how it boots) and layers, a default name from
// the reference, and progress for each layer and step.
func TestPull(t *testing.T) {
	f, _, dir := pullFixture(t)
	var steps []Progress
	img, err := f.svc.Pull(context.Background(), PullRequest{Ref: "debian:12"}, func(p Progress) { steps = append(steps, p) })
	if err != nil {
		t.Fatal(err)
	}
	k, err := f.store.GetKernel(context.Background(), DefaultKernel)
	if err != nil {
		t.Fatal(err)
	}
	want := Image{ID: img.ID, Name: "debian-12", RootFS: filepath.Join(dir, strings.Repeat("d", 64), "rootfs.ext4"),
		Kernel: k.Vmlinux, Initrd: k.Initrd,
		RootFSSize: int64(len("ext4:index.docker.io/library/debian:12")), CreatedAt: img.CreatedAt, State: StateReady,
		Source: "index.docker.io/library/debian:12", Digest: digest('d'),
		Config: &RunConfig{Env: []string{"PATH=/bin"}, Cmd: []string{"bash"}, User: "root", WorkingDir: "/", Init: InitAgent},
		Layers: []string{digest('1'), digest('2')}, Identity: "debugfs"}
	if diff := cmp.Diff(want, img); diff != "" {
		t.Errorf("Pull (-want +got):\n%s", diff)
	}
	got, err := f.svc.Get(context.Background(), "debian-12")
	if err != nil || !cmp.Equal(img, got) {
		t.Errorf("Get = %+v, %v; want what Pull returned", got, err)
	}
	want2 := Progress{Step: stepDownload, Index: 1, Total: 3, Bar: "222222222222", Current: 20, TotalUnits: 20, Unit: "bytes", Fraction: 1}
	all := Progress{Step: stepDownload, Index: 1, Total: 3, Current: 30, TotalUnits: 30, Unit: "bytes", Fraction: 1, Detail: "2 layers"}
	if len(steps) != 7 || !cmp.Equal(steps[2], want2) || !cmp.Equal(steps[3], all) || steps[4].Step != stepFlatten ||
		steps[5].Step != stepDisk || steps[6].Detail != "mkfs" {
		t.Errorf("progress = %+v, want a layer bar and the step's bytes for each layer, then the flatten and disk steps", steps)
	}
}

// TestPullSameImageTwice: a second name for an image already pulled
// reuses its root disk and knows how it boots.
func TestPullSameImageTwice(t *testing.T) {
	f, p, _ := pullFixture(t)
	ctx := context.Background()
	a, err := f.svc.Pull(ctx, PullRequest{Ref: "debian:12"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := f.svc.Pull(ctx, PullRequest{Ref: "debian:12", Name: "deb"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if p.disks != 1 || a.RootFS != b.RootFS || b.Config.Init != InitAgent {
		t.Errorf("second pull: %d disks made, root disks %s and %s, init %q; want one disk shared, init %q", p.disks, a.RootFS, b.RootFS, b.Config.Init, InitAgent)
	}
}

// TestPullIfMissing: with IfMissing a pull of a reference already pulled
// under the derived name answers with that image and fetches nothing; a
// name taken by an image from elsewhere is still refused.
func TestPullIfMissing(t *testing.T) {
	f, p, _ := pullFixture(t)
	ctx := context.Background()
	a, err := f.svc.Pull(ctx, PullRequest{Ref: "debian:12"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := f.svc.Pull(ctx, PullRequest{Ref: "debian:12", IfMissing: true}, nil)
	if err != nil || !cmp.Equal(a, b) || p.fetches != 1 {
		t.Errorf("second pull with IfMissing = %+v, %v after %d fetches; want the first image, one fetch", b, err, p.fetches)
	}
	if _, err := f.svc.Pull(ctx, PullRequest{Ref: "app:1", Name: "debian-12", IfMissing: true}, nil); errdefs.KindOf(err) != errdefs.AlreadyExists {
		t.Errorf("IfMissing over another image's name = %v, want already exists", err)
	}
}

// TestPullNoKernel: without a default kernel nothing is fetched.
func TestPullNoKernel(t *testing.T) {
	f, p, _ := pullFixture(t)
	k, err := f.store.GetKernel(context.Background(), DefaultKernel)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.store.DeleteKernel(context.Background(), k.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Pull(context.Background(), PullRequest{Ref: "debian:12"}, nil); errdefs.KindOf(err) != errdefs.NotFound || p.fetches != 0 {
		t.Errorf("Pull without a kernel = %v after %d fetches; want not found before any", err, p.fetches)
	}
}

// TestPullRefusedEarly: a taken or invalid name and a bad reference are
// refused before anything is fetched.
func TestPullRefusedEarly(t *testing.T) {
	f, p, _ := pullFixture(t)
	if _, err := f.svc.Pull(context.Background(), PullRequest{Ref: "debian:12"}, nil); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		req  PullRequest
		kind errdefs.Kind
	}{
		{PullRequest{Ref: "app:1", Name: "debian-12"}, errdefs.AlreadyExists},
		{PullRequest{Ref: "app:1", Name: "Bad_Name"}, errdefs.InvalidArgument},
		{PullRequest{Ref: "not a ref"}, errdefs.InvalidArgument},
	} {
		before := p.fetches
		if _, err := f.svc.Pull(context.Background(), tt.req, nil); errdefs.KindOf(err) != tt.kind || p.fetches != before {
			t.Errorf("Pull(%+v) = %v after %d fetches; want %s before any", tt.req, err, p.fetches-before, tt.kind)
		}
	}
}

// TestPullFailureLeavesNothing: a pull whose flattening fails leaves no
// record and no image directory; nor does one whose disk cannot be made.
func TestPullFailureLeavesNothing(t *testing.T) {
	f, p, dir := pullFixture(t)
	p.flattenErr = errdefs.InvalidArgumentf("layer %s: tar entry \"../x\" has a \"..\" element: refused", digest('2'))
	if _, err := f.svc.Pull(context.Background(), PullRequest{Ref: "debian:12"}, nil); !errors.Is(err, p.flattenErr) {
		t.Fatalf("err = %v, want the flattening's", err)
	}
	if imgs, _ := f.svc.List(context.Background()); len(imgs) != 0 {
		t.Errorf("images after a failed pull: %+v", imgs)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("left in the image store: %v", ents)
	}
	p.flattenErr = nil
	p.diskErr = errdefs.FailedPreconditionf("making a pulled image bootable needs tar")
	if _, err := f.svc.Pull(context.Background(), PullRequest{Ref: "debian:12"}, nil); !errors.Is(err, p.diskErr) {
		t.Fatalf("err = %v, want the disk step's", err)
	}
	if imgs, _ := f.svc.List(context.Background()); len(imgs) != 0 {
		t.Errorf("images after a failed pull: %+v", imgs)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("left in the image store after the disk step failed: %v", ents)
	}
}

// TestRemovePulled: removing a pulled image deletes its flattened tree
// and the cached layers no other image needs, and keeps shared ones.
func TestRemovePulled(t *testing.T) {
	f, p, dir := pullFixture(t)
	ctx := context.Background()
	for _, ref := range []string{"debian:12", "app:1"} {
		if _, err := f.svc.Pull(ctx, PullRequest{Ref: ref}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.svc.Remove(ctx, "debian-12"); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{digest('1'), digest('3')}, p.cached()); diff != "" {
		t.Errorf("cached layers after removing debian-12 (-want +got):\n%s", diff)
	}
	if _, err := os.Stat(filepath.Join(dir, strings.Repeat("d", 64))); !os.IsNotExist(err) {
		t.Errorf("debian-12's directory is still there: %v", err)
	}
	if err := f.svc.Remove(ctx, "app-1"); err != nil {
		t.Fatal(err)
	}
	if got := p.cached(); len(got) != 0 {
		t.Errorf("cached layers after removing every image: %v", got)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("left in the image store: %v", ents)
	}
}

func TestNameFromRef(t *testing.T) {
	for ref, want := range map[string]string{
		"index.docker.io/library/debian:12":                                 "debian-12",
		"index.docker.io/library/node:22-alpine":                            "node-22-alpine",
		"ghcr.io/owner/my_app:v1.2":                                         "my-app-v1-2",
		"localhost:5000/x:latest":                                           "x-latest",
		"index.docker.io/library/alpine@sha256:" + strings.Repeat("ab", 32): "alpine-abababababab",
	} {
		if got := NameFromRef(ref); got != want {
			t.Errorf("NameFromRef(%q) = %q, want %q", ref, got, want)
		}
	}
}
