package kernels

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"banger/internal/disk"
	"banger/internal/errdefs"
	"banger/internal/kernelbuild"
	"banger/internal/store"
)

// Fake kernel files: a "vmlinux" starts with vmlinuxMagic, a "bzImage"
// with bzMagic followed by the vmlinux it unpacks to.
const (
	vmlinuxMagic = "VMLINUX\n"
	bzMagic      = "BZIMAGE\n"
)

func fakeVmlinux(release string) string {
	return vmlinuxMagic + "junk\x00Linux version " + release + " (builder@host) #1 SMP\x00more"
}

// fakeHost is a stateful Host: Build writes fake outputs into its cache
// directory once and then reuses them, as kernelbuild does.
type fakeHost struct {
	mu        sync.Mutex
	cache     string
	builds    int // builds that compiled
	calls     int
	buildErr  error
	unpackErr error
	lastOpts  kernelbuild.Options

	distroErr  error
	distroOpts kernelbuild.DistroOptions
	fetches    int // distro kernels made (not cached)
}

// Distro writes a fake distro kernel and initramfs into the cache once,
// and reuses them, as kernelbuild.Distro does.
func (h *fakeHost) Distro(ctx context.Context, opts kernelbuild.DistroOptions, progress func(kernelbuild.Progress)) (kernelbuild.DistroResult, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.distroOpts = opts
	if h.distroErr != nil {
		return kernelbuild.DistroResult{}, h.distroErr
	}
	res := kernelbuild.DistroResult{
		Vmlinux: filepath.Join(h.cache, "distro-vmlinux"), Initrd: filepath.Join(h.cache, "distro-initrd"),
		Release: "6.1.0-57-cloud-amd64", Package: "linux-image-6.1.0-57-cloud-amd64", PackageVersion: "6.1.192-3",
		Discovery: kernelbuild.DiscoveryACPI, HZ: 250,
	}
	if _, err := os.Stat(res.Vmlinux); err == nil {
		res.Cached = true
		return res, nil
	}
	for _, step := range kernelbuild.DistroSteps {
		progress(kernelbuild.Progress{Step: step, Fraction: 1})
	}
	h.fetches++
	if err := os.WriteFile(res.Vmlinux, []byte(fakeVmlinux(res.Release)), 0o644); err != nil {
		return kernelbuild.DistroResult{}, err
	}
	return res, os.WriteFile(res.Initrd, []byte("initramfs"), 0o644)
}

func (h *fakeHost) Build(ctx context.Context, opts kernelbuild.Options, progress func(kernelbuild.Progress)) (kernelbuild.Result, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls++
	h.lastOpts = opts
	if h.buildErr != nil {
		return kernelbuild.Result{}, h.buildErr
	}
	res := kernelbuild.Result{
		Vmlinux: filepath.Join(h.cache, "vmlinux"),
		BzImage: filepath.Join(h.cache, "bzImage"),
		Version: "6.1.99-banger",
		Source:  "/usr/src/linux-source-6.1.tar.xz",
	}
	if _, err := os.Stat(res.Vmlinux); err == nil {
		res.Cached = true
		progress(kernelbuild.Progress{Step: kernelbuild.StepInstall, Detail: "cached", Fraction: 1})
		return res, nil
	}
	for _, step := range kernelbuild.Steps {
		progress(kernelbuild.Progress{Step: step, Detail: "doing " + step, Fraction: 0.5})
	}
	h.builds++
	vm := fakeVmlinux(res.Version)
	if err := os.WriteFile(res.Vmlinux, []byte(vm), 0o644); err != nil {
		return kernelbuild.Result{}, err
	}
	return res, os.WriteFile(res.BzImage, []byte(bzMagic+vm), 0o644)
}

func (h *fakeHost) DetectKernel(path string) (disk.KernelFormat, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	switch {
	case bytes.HasPrefix(b, []byte(vmlinuxMagic)):
		return disk.Vmlinux, nil
	case bytes.HasPrefix(b, []byte(bzMagic)):
		return disk.BzImage, nil
	}
	return "", errdefs.InvalidArgumentf("%s is not a kernel banger can boot (unrecognised contents)", path)
}

func (h *fakeHost) Unpack(bzImage, dst string) error {
	if h.unpackErr != nil {
		return h.unpackErr
	}
	b, err := os.ReadFile(bzImage)
	if err != nil {
		return err
	}
	if !bytes.HasPrefix(b, []byte(bzMagic)) {
		return errdefs.InvalidArgumentf("%s is not a bzImage", bzImage)
	}
	return os.WriteFile(dst, b[len(bzMagic):], 0o644)
}

// fixture is a Service over a real store and a fake host.
type fixture struct {
	svc   *Service
	store *store.Store
	host  *fakeHost
	dir   string // the kernel store
	files string // where the user's files live
	ids   int
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	root := t.TempDir()
	st, err := store.Open(context.Background(), filepath.Join(root, "state.db"))
	if err != nil {
		t.Fatalf("store.Open: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	f := &fixture{
		store: st,
		host:  &fakeHost{cache: t.TempDir()},
		dir:   filepath.Join(root, "kernels"),
		files: t.TempDir(),
	}
	f.svc = New(Config{
		Store:   st,
		Host:    f.host,
		Dir:     f.dir,
		WorkDir: filepath.Join(root, "cache", "kernel-build"),
		NewID: func() string {
			f.ids++
			return fmt.Sprintf("%016x", f.ids)
		},
		Now: func() time.Time { return time.Unix(1700000000+int64(f.ids), 0).UTC() },
	})
	return f
}

// file writes a user file and returns its path.
func (f *fixture) file(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(f.files, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// storeDirs lists the kernel directories in the kernel store.
func (f *fixture) storeDirs(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir(f.dir)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}
