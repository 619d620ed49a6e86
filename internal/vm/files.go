package vm

import (
	"context"
	"fmt"
	"io"

	"banger/internal/agent/proto"
)

// Upload extracts the tar stream r under the directory dir (absolute) of a
// running VM's guest, streaming it to the guest agent, which refuses
// entries that would land outside dir.
func (s *Service) Upload(ctx context.Context, ref, dir string, r io.Reader) error {
	rec, err := s.store.GetVM(ctx, ref)
	if err != nil {
		return err
	}
	ag, _, err := s.agentFor(ctx, rec)
	if err != nil {
		return err
	}
	if err := ag.Upload(ctx, dir, r); err != nil {
		return fmt.Errorf("copy into %s:%s: %w", rec.Name, dir, err)
	}
	return nil
}

// Download returns a tar stream of path (absolute; a file, symlink or
// directory tree) in a running VM's guest, its entries named from path's
// base name. ctx must stay alive while the stream is read.
func (s *Service) Download(ctx context.Context, ref, path string) (io.ReadCloser, error) {
	rec, err := s.store.GetVM(ctx, ref)
	if err != nil {
		return nil, err
	}
	ag, _, err := s.agentFor(ctx, rec)
	if err != nil {
		return nil, err
	}
	rc, err := ag.Download(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("copy from %s:%s: %w", rec.Name, path, err)
	}
	return rc, nil
}

// Stat reports what path (absolute) is in a running VM's guest, symlinks
// followed.
func (s *Service) Stat(ctx context.Context, ref, path string) (proto.Stat, error) {
	rec, err := s.store.GetVM(ctx, ref)
	if err != nil {
		return proto.Stat{}, err
	}
	ag, _, err := s.agentFor(ctx, rec)
	if err != nil {
		return proto.Stat{}, err
	}
	st, err := ag.Stat(ctx, path)
	if err != nil {
		return proto.Stat{}, fmt.Errorf("VM %s: %w", rec.Name, err)
	}
	return st, nil
}
