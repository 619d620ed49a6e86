package images

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"banger/internal/errdefs"
	"banger/internal/names"
	"banger/internal/store"
)

// Defaults of a build request.
const (
	DefaultImage  = "default"
	DefaultKernel = "default"
)

// BuildSpec is what a Builder makes: a root filesystem from a Debian
// suite plus extra packages, stored content-addressed under Dir.
type BuildSpec struct {
	Suite    string
	Packages []string
	Dir      string
}

// BuildOutput is a built root filesystem. RootFS lies in its own
// directory under BuildSpec.Dir, which holds nothing else.
type BuildOutput struct {
	RootFS string
	SHA256 string
	Size   int64
	// IdentityDisk: the image reads a per-VM identity disk at boot, so
	// its VMs' root disks need no per-VM writes.
	IdentityDisk bool
}

// Builder builds root filesystems; progress may be nil.
type Builder interface {
	Build(ctx context.Context, spec BuildSpec, progress func(Progress)) (BuildOutput, error)
}

// builds is the state of image builds: where built images live and which
// names are being built right now.
type builds struct {
	builder Builder
	dir     string
	mu      sync.Mutex
	running map[string]bool
}

// Option configures a Service.
type Option func(*Service)

// WithBuilder lets the Service build images with b, storing them under
// dir (StateDir/images). Without it Build is refused.
func WithBuilder(b Builder, dir string) Option {
	return func(s *Service) { s.builds = &builds{builder: b, dir: dir, running: map[string]bool{}} }
}

// Build builds an image from Debian packages and records it under
// req.Name with the kernel req.Kernel. The name and the kernel are
// checked before the slow build starts. progress may be nil.
func (s *Service) Build(ctx context.Context, req BuildRequest, progress func(Progress)) (Image, error) {
	if s.builds == nil {
		return Image{}, errdefs.FailedPreconditionf("this daemon cannot build images: it was started without an image builder")
	}
	if req.Name == "" {
		req.Name = DefaultImage
	}
	if req.Kernel == "" {
		req.Kernel = DefaultKernel
	}
	if err := names.ValidateAs("image", req.Name); err != nil {
		return Image{}, err
	}
	if _, err := s.store.GetImage(ctx, req.Name); err == nil {
		return Image{}, errdefs.AlreadyExistsf("an image named %q already exists: pick another name with --name, or remove it with \"banger image rm %s\"", req.Name, req.Name)
	} else if errdefs.KindOf(err) != errdefs.NotFound {
		return Image{}, err
	}
	k, err := s.store.GetKernel(ctx, req.Kernel)
	if errdefs.KindOf(err) == errdefs.NotFound {
		return Image{}, errdefs.NotFoundf("no kernel named %q to boot the image: build one with \"banger kernel build\" or pass --kernel", req.Kernel)
	}
	if err != nil {
		return Image{}, err
	}
	if !s.builds.claim(req.Name) {
		return Image{}, errdefs.AlreadyExistsf("an image named %q is being built already: wait for that build or pick another name", req.Name)
	}
	defer s.builds.release(req.Name)

	out, err := s.builds.builder.Build(ctx, BuildSpec{Suite: req.Suite, Packages: req.Packages, Dir: s.builds.dir}, progress)
	if err != nil {
		return Image{}, err
	}
	img := store.Image{
		ID:         s.newID(),
		Name:       req.Name,
		RootFS:     out.RootFS,
		Kernel:     k.Vmlinux,
		Initrd:     k.Initrd,
		RootFSSize: out.Size,
		CreatedAt:  time.Now(),
		Identity:   store.ImageIdentityDebugfs,
	}
	if out.IdentityDisk {
		img.Identity = store.ImageIdentityDisk
	}
	if err := s.store.CreateImage(context.WithoutCancel(ctx), img); err != nil {
		_ = s.removeBuiltFiles(context.WithoutCancel(ctx), out.RootFS)
		return Image{}, err
	}
	return toImage(img), nil
}

func (b *builds) claim(name string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.running[name] {
		return false
	}
	b.running[name] = true
	return true
}

func (b *builds) release(name string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.running, name)
}

// builtDir returns the directory holding rootfs when rootfs is a built
// or pulled image (DIR/<sha256>/<file>), or "" for anything else, such as a
// registered image's host file.
func (s *Service) builtDir(rootfs string) string {
	var dirs []string
	if s.builds != nil && s.builds.dir != "" {
		dirs = append(dirs, s.builds.dir)
	}
	if s.pulls != nil && s.pulls.dir != "" {
		dirs = append(dirs, s.pulls.dir)
	}
	for _, dir := range dirs {
		rel, err := filepath.Rel(dir, rootfs)
		if err != nil || !filepath.IsLocal(rel) {
			continue
		}
		sub, _ := filepath.Split(rel)
		sub = filepath.Clean(sub)
		if sub == "." || filepath.Dir(sub) != "." || len(sub) != 64 {
			continue
		}
		return filepath.Join(dir, sub)
	}
	return ""
}

// removeBuiltFiles deletes a built image's directory unless another image
// record still uses a file in it. Registered images are never touched.
func (s *Service) removeBuiltFiles(ctx context.Context, rootfs string) error {
	dir := s.builtDir(rootfs)
	if dir == "" {
		return nil
	}
	imgs, err := s.store.ListImages(ctx)
	if err != nil {
		return err
	}
	for _, img := range imgs {
		if s.builtDir(img.RootFS) == dir {
			return nil
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("delete the image files in %s: %w", dir, err)
	}
	return nil
}
