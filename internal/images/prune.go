package images

import (
	"context"
	"errors"
	"fmt"

	"banger/internal/errdefs"
)

// Prune removes every image that no VM uses, except the images named in
// keep (the daemon passes the configured default image, so that "vm run"
// need not rebuild it), and returns them. With dryRun it only returns
// them. Kernels are never removed: they are a separate store ("banger
// kernel rm"). A built or pulled image's files are deleted, and then the
// cached layers no image needs; a registered image's host files are left
// alone, as Remove does. Use is decided by the store
// inside the deletion's transaction, so an image a VM started to use
// after the listing (a create in flight records its VM first) is kept.
func (s *Service) Prune(ctx context.Context, keep []string, dryRun bool) ([]Image, error) {
	unused, err := s.Unused(ctx, keep)
	if err != nil || dryRun {
		return unused, err
	}
	out := []Image{}
	var errs []error
	for _, img := range unused {
		err := s.store.DeleteImage(ctx, img.ID)
		switch errdefs.KindOf(err) {
		case "":
		case errdefs.FailedPrecondition, errdefs.NotFound:
			continue // in use now, or removed meanwhile
		default:
			errs = append(errs, fmt.Errorf("remove image %s: %w", img.Name, err))
			continue
		}
		if err := s.removeBuiltFiles(context.WithoutCancel(ctx), img.RootFS); err != nil {
			errs = append(errs, err)
		}
		out = append(out, img)
	}
	if len(out) > 0 {
		if err := s.removeUnusedLayers(context.WithoutCancel(ctx)); err != nil {
			errs = append(errs, err)
		}
	}
	return out, errors.Join(errs...)
}

// Unused returns the images no VM uses, except those named (or
// identified) in keep.
func (s *Service) Unused(ctx context.Context, keep []string) ([]Image, error) {
	imgs, err := s.store.ListImages(ctx)
	if err != nil {
		return nil, err
	}
	vms, err := s.store.ListVMs(ctx)
	if err != nil {
		return nil, err
	}
	used := map[string]bool{}
	for _, v := range vms {
		used[v.ImageID] = true
	}
	for _, k := range keep {
		used[k] = true
	}
	out := []Image{}
	for _, img := range imgs {
		if !used[img.ID] && !used[img.Name] {
			out = append(out, toImage(img))
		}
	}
	return out, nil
}

// FilesDir is the directory holding a built image's files under the
// image store, or "" for a registered image, whose files banger does not
// own.
func (s *Service) FilesDir(img Image) string { return s.builtDir(img.RootFS) }
