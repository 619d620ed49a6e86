// Package kernels owns the kernel store: taking the distribution's kernel
// package with banger's initramfs, building banger's kernel from the
// distribution's linux-source (both through the Host interface), importing
// a vmlinux or bzImage with an optional initrd, and listing, showing and
// removing kernels. Every kernel's files are copies kept under its own
// directory, <Dir>/<id>/, so removing one never touches another's or the
// user's files. It must not talk to the daemon, the CLI or a VMM.
package kernels

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"banger/internal/disk"
	"banger/internal/kernelbuild"
	"banger/internal/store"
)

// Host is what the service needs from the host: compiling a kernel,
// taking a distribution's kernel (the host fills in the banger-init
// binary), recognising a kernel file and unpacking a bzImage.
type Host interface {
	Build(ctx context.Context, opts kernelbuild.Options, progress func(kernelbuild.Progress)) (kernelbuild.Result, error)
	Distro(ctx context.Context, opts kernelbuild.DistroOptions, progress func(kernelbuild.Progress)) (kernelbuild.DistroResult, error)
	DetectKernel(path string) (disk.KernelFormat, error)
	Unpack(bzImage, dst string) error
}

// Config wires a Service.
type Config struct {
	Store *store.Store
	Host  Host
	// Dir holds one directory of files per kernel (StateDir/kernels).
	Dir string
	// WorkDir is the build cache: extracted sources and build outputs
	// (CacheDir/kernel-build).
	WorkDir string
	// DistroDir caches distribution kernel packages and the kernels and
	// initramfs made from them (CacheDir/kernel-distro).
	DistroDir string
	// NewID makes record ids (16 hex characters).
	NewID func() string
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Service manages kernels.
type Service struct{ cfg Config }

// New returns a Service.
func New(cfg Config) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Service{cfg: cfg}
}

// Get returns the kernel named or identified by ref.
func (s *Service) Get(ctx context.Context, ref string) (Kernel, error) {
	k, err := s.cfg.Store.GetKernel(ctx, ref)
	if err != nil {
		return Kernel{}, err
	}
	return toKernel(k), nil
}

// List returns every kernel, oldest first.
func (s *Service) List(ctx context.Context) ([]Kernel, error) {
	ks, err := s.cfg.Store.ListKernels(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Kernel, 0, len(ks))
	for _, k := range ks {
		out = append(out, toKernel(k))
	}
	return out, nil
}

// Remove deletes a kernel's record and its files. A kernel an image boots
// with is refused (FailedPrecondition) and kept whole.
func (s *Service) Remove(ctx context.Context, ref string) error {
	k, err := s.cfg.Store.GetKernel(ctx, ref)
	if err != nil {
		return err
	}
	if err := s.cfg.Store.DeleteKernel(ctx, k.ID); err != nil {
		return err
	}
	dir := s.kernelDir(k.ID)
	if filepath.Dir(k.Vmlinux) != dir {
		return nil // not a file layout this service made: leave it alone
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("kernel %q is removed but its files in %s are not: %w; delete them by hand", k.Name, dir, err)
	}
	return nil
}

func (s *Service) kernelDir(id string) string { return filepath.Join(s.cfg.Dir, id) }

func toKernel(k store.Kernel) Kernel {
	return Kernel{
		ID:        k.ID,
		Name:      k.Name,
		Vmlinux:   k.Vmlinux,
		BzImage:   k.BzImage,
		Initrd:    k.Initrd,
		Version:   k.Version,
		Source:    Source(k.Source),
		SHA256:    k.SHA256,
		Size:      k.Size,
		CreatedAt: k.CreatedAt,
		Origin:    k.Origin,
		Discovery: k.Discovery,
	}
}
