package images

import (
	"context"

	"banger/internal/errdefs"
)

// Layers lists the cached layers, each with whether an image record lists
// it. Without a puller there are none.
func (s *Service) Layers(ctx context.Context) ([]CachedLayer, map[string]bool, error) {
	if s.pulls == nil {
		return nil, nil, nil
	}
	cached, err := s.pulls.puller.CachedLayers()
	if err != nil {
		return nil, nil, err
	}
	used, err := s.usedLayers(ctx)
	if err != nil {
		return nil, nil, err
	}
	return cached, used, nil
}

// usedLayers are the digests of the layers some image record lists.
func (s *Service) usedLayers(ctx context.Context) (map[string]bool, error) {
	imgs, err := s.store.ListImages(ctx)
	if err != nil {
		return nil, err
	}
	used := map[string]bool{}
	for _, img := range imgs {
		for _, l := range img.Layers {
			used[l] = true
		}
	}
	return used, nil
}

// PruneLayers removes the cached layers no image needs (and what pulls a
// crash cut short left in the cache) and returns them; with dryRun it only
// returns them. Layers of a pull in flight have no image record yet, so
// the removal is refused while one runs.
func (s *Service) PruneLayers(ctx context.Context, dryRun bool) ([]CachedLayer, error) {
	if s.pulls == nil {
		return []CachedLayer{}, nil
	}
	if dryRun {
		s.pulls.cache.RLock()
		defer s.pulls.cache.RUnlock()
	} else {
		if !s.pulls.cache.TryLock() {
			return nil, errdefs.Unavailablef("an image pull is running, and the layers it fetched are not recorded yet: try again when it is done")
		}
		defer s.pulls.cache.Unlock()
	}
	cached, used, err := s.Layers(ctx)
	if err != nil {
		return nil, err
	}
	out := []CachedLayer{}
	for _, l := range cached {
		if !used[l.Digest] {
			out = append(out, l)
		}
	}
	if dryRun {
		return out, nil
	}
	if err := s.pulls.puller.RemoveUnusedLayers(used); err != nil {
		return nil, err
	}
	return out, nil
}
