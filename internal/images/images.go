// Package images owns the image records VMs boot from: registering host
// files as an image after checking them, building images from Debian
// packages through the small Builder interface, pulling OCI images
// through the small Puller interface (recorded as "pulled", not bootable
// yet), listing, showing and removing images. It checks file formats through the small Inspector
// interface. It deletes only the files of images it built, under its image
// store, and must never create or modify a registered image's host files.
package images

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"banger/internal/disk"
	"banger/internal/errdefs"
	"banger/internal/names"
	"banger/internal/store"
	"banger/internal/userfile"
)

// Inspector checks file formats without mounting or modifying anything.
type Inspector interface {
	// CheckRootFS returns an error unless path is an ext4 filesystem image.
	CheckRootFS(path string) error
	// CheckKernel returns an error unless path is a vmlinux ELF or bzImage.
	CheckKernel(path string) error
	// ReadsIdentityDisk reports whether the root filesystem at path
	// installs each VM's identity from its identity disk at boot (it
	// carries the marker banger's image build writes).
	ReadsIdentityDisk(ctx context.Context, path string) (bool, error)
}

// Service manages images.
type Service struct {
	store   *store.Store
	inspect Inspector
	newID   func() string
	builds  *builds // nil when the service cannot build images
	pulls   *pulls  // nil when the service cannot pull images
}

// New returns a Service. newID makes record ids.
func New(st *store.Store, inspect Inspector, newID func() string, opts ...Option) *Service {
	s := &Service{store: st, inspect: inspect, newID: newID}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Register records existing host files as an image after checking that
// they exist, are regular files and have the right formats. Every problem
// is reported at once.
func (s *Service) Register(ctx context.Context, req RegisterRequest) (Image, error) {
	var problems []error
	if err := names.ValidateAs("image", req.Name); err != nil {
		problems = append(problems, err)
	}
	size, err := checkFile("rootfs", req.RootFS, disk.MaxImageSize, s.inspect.CheckRootFS)
	problems = appendErr(problems, err)
	_, err = checkFile("kernel", req.Kernel, disk.MaxKernelSize, s.inspect.CheckKernel)
	problems = appendErr(problems, err)
	if req.Initrd != "" {
		_, err = checkFile("initrd", req.Initrd, disk.MaxKernelSize, nil)
		problems = appendErr(problems, err)
	}
	if len(problems) > 0 {
		return Image{}, errdefs.Wrap(errdefs.InvalidArgument, errors.Join(problems...))
	}
	img := store.Image{
		ID:         s.newID(),
		Name:       req.Name,
		RootFS:     req.RootFS,
		Kernel:     req.Kernel,
		Initrd:     req.Initrd,
		RootFSSize: size,
		CreatedAt:  time.Now(),
		Identity:   store.ImageIdentityDebugfs,
	}
	// An image that cannot be read here gets the identity written into
	// each VM's root disk, which works for every image.
	if ok, err := s.inspect.ReadsIdentityDisk(ctx, req.RootFS); err == nil && ok {
		img.Identity = store.ImageIdentityDisk
	}
	if err := s.store.CreateImage(ctx, img); err != nil {
		return Image{}, err
	}
	return toImage(img), nil
}

func appendErr(errs []error, err error) []error {
	if err != nil {
		return append(errs, err)
	}
	return errs
}

// checkFile checks that path is an absolute path to a readable regular file
// of at most maxSize bytes and, when check is set, that it has the right
// format. It returns the size. The file is opened with userfile, so a FIFO
// or a device fails at once instead of blocking.
func checkFile(field, path string, maxSize int64, check func(string) error) (int64, error) {
	if path == "" {
		return 0, fmt.Errorf("%s: a path is required", field)
	}
	if !filepath.IsAbs(path) {
		return 0, fmt.Errorf("%s %q: must be an absolute path", field, path)
	}
	f, err := userfile.Open(path, maxSize)
	if err != nil {
		return 0, fmt.Errorf("%s %w", field, err) // "rootfs /x does not exist: ..."
	}
	fi, err := f.Stat()
	_ = f.Close()
	if err != nil {
		return 0, fmt.Errorf("%s %s: %w", field, path, err)
	}
	if check != nil {
		if err := check(path); err != nil {
			return 0, fmt.Errorf("%s: %w", field, err)
		}
	}
	return fi.Size(), nil
}

// Get returns the image named or identified by ref.
func (s *Service) Get(ctx context.Context, ref string) (Image, error) {
	img, err := s.store.GetImage(ctx, ref)
	if err != nil {
		return Image{}, err
	}
	return toImage(img), nil
}

// List returns every image.
func (s *Service) List(ctx context.Context) ([]Image, error) {
	imgs, err := s.store.ListImages(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Image, 0, len(imgs))
	for _, img := range imgs {
		out = append(out, toImage(img))
	}
	return out, nil
}

// Remove forgets an image. A built or pulled image's files under the
// image store are deleted with it, and so are the cached layers no image
// needs any more; a registered image's host files are left alone. An
// image that VMs still use is refused.
func (s *Service) Remove(ctx context.Context, ref string) error {
	img, err := s.store.GetImage(ctx, ref)
	if err != nil {
		return err
	}
	if err := s.store.DeleteImage(ctx, img.ID); err != nil {
		return err
	}
	if err := s.removeBuiltFiles(ctx, img.RootFS); err != nil {
		return err
	}
	return s.removeUnusedLayers(ctx)
}

func toImage(img store.Image) Image {
	out := Image{
		ID:         img.ID,
		Name:       img.Name,
		RootFS:     img.RootFS,
		RootFSSize: img.RootFSSize,
		Kernel:     img.Kernel,
		Initrd:     img.Initrd,
		CreatedAt:  img.CreatedAt,
		State:      img.State,
		Source:     img.Source,
		Digest:     img.Digest,
		Layers:     img.Layers,
		Identity:   img.Identity,
	}
	if out.State == "" {
		out.State = StateReady
	}
	if out.Identity == "" {
		out.Identity = store.ImageIdentityDebugfs
	}
	if img.RunConfig != "" {
		var rc RunConfig
		if json.Unmarshal([]byte(img.RunConfig), &rc) == nil {
			out.Config = &rc
		}
	}
	return out
}
