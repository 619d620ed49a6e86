package vm

import (
	"context"

	"banger/internal/api"
	"banger/internal/store"
)

// Get returns the VM named or identified by ref.
func (s *Service) Get(ctx context.Context, ref string) (api.VM, error) {
	rec, err := s.store.GetVM(ctx, ref)
	if err != nil {
		return api.VM{}, err
	}
	return s.toAPI(ctx, rec), nil
}

// List returns every VM.
func (s *Service) List(ctx context.Context) ([]api.VM, error) {
	recs, err := s.store.ListVMs(ctx)
	if err != nil {
		return nil, err
	}
	imgs, err := s.store.ListImages(ctx)
	if err != nil {
		return nil, err
	}
	names := make(map[string]string, len(imgs))
	for _, img := range imgs {
		names[img.ID] = img.Name
	}
	out := make([]api.VM, 0, len(recs))
	for _, rec := range recs {
		out = append(out, toAPI(rec, names[rec.ImageID]))
	}
	return out, nil
}

func (s *Service) toAPI(ctx context.Context, rec store.VM) api.VM {
	name := rec.ImageID
	if img, err := s.store.GetImage(ctx, rec.ImageID); err == nil {
		name = img.Name
	}
	return toAPI(rec, name)
}

func toAPI(rec store.VM, image string) api.VM {
	v := api.VM{
		ID:        rec.ID,
		Name:      rec.Name,
		State:     rec.State,
		Image:     image,
		VCPUs:     rec.VCPUs,
		MemoryMiB: rec.MemoryMiB,
		DiskBytes: rec.DiskBytes,
		Driver:    rec.Driver,
		Dir:       rec.Dir,
		LastError: rec.LastError,
		CreatedAt: rec.CreatedAt,
	}
	if rec.State == api.StateRunning {
		v.PID = rec.PID
		v.StartedAt = rec.StartedAt
	}
	return v
}
