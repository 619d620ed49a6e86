package vm

import (
	"context"
	"errors"
	"fmt"

	"banger/internal/store"
)

// PruneSnapshots deletes every snapshot no VM uses, each as its own
// journaled snapshot.delete operation (opID-<n>), and returns them. With
// dryRun it only returns them. A snapshot is judged again under its lock
// when its turn comes: one being made, or one a VM started using
// meanwhile, is left alone. A failure to delete one does not stop the
// others; the errors are joined.
func (s *Service) PruneSnapshots(ctx context.Context, opID string, dryRun bool, progress Progress) ([]Snapshot, error) {
	recs, err := s.store.ListSnapshots(ctx)
	if err != nil {
		return nil, err
	}
	out := []Snapshot{}
	var errs []error
	for i, sn := range recs {
		used, err := s.snapshotInUse(ctx, sn)
		if err != nil {
			return nil, err
		}
		if used {
			continue
		}
		if dryRun {
			out = append(out, s.toSnapshot(ctx, sn))
			continue
		}
		got, deleted, err := s.pruneSnapshot(ctx, subOpID(opID, fmt.Sprint(i+1)), sn.ID, progress)
		if err != nil {
			errs = append(errs, fmt.Errorf("delete snapshot %s: %w", sn.Name, err))
			continue
		}
		if deleted {
			out = append(out, got)
		}
	}
	return out, errors.Join(errs...)
}

// pruneSnapshot deletes the snapshot with id if, under its lock, it is
// still unused. deleted is false when it was not (or is gone already).
func (s *Service) pruneSnapshot(ctx context.Context, opID, id string, progress Progress) (Snapshot, bool, error) {
	ctx = context.WithoutCancel(ctx)
	unlock := s.locks.lock(id)
	defer unlock()
	sn, err := s.store.GetSnapshot(ctx, id)
	if err != nil {
		return Snapshot{}, false, ignoreNotFound(err)
	}
	if used, err := s.snapshotInUse(ctx, sn); err != nil || used {
		return Snapshot{}, false, err
	}
	got := s.toSnapshot(ctx, sn)
	o, err := s.newOp(ctx, opID, "snapshot.delete", sn.ID, sn.Name, progress)
	if err != nil {
		return Snapshot{}, false, err
	}
	if err := o.runForward(ctx, s.deleteSnapshotSteps(&sn)); err != nil {
		return Snapshot{}, false, err
	}
	return got, true, nil
}

// snapshotInUse reports whether snapshot sn must not be pruned: it is not
// ready (being made, or being deleted by another operation), or a VM was
// made from it.
func (s *Service) snapshotInUse(ctx context.Context, sn store.Snapshot) (bool, error) {
	if sn.State != "ready" {
		return true, nil
	}
	users, err := s.snapshotUsers(ctx, sn.ID)
	return len(users) > 0, err
}
