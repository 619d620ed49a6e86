package vm

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"banger/internal/store"
)

// Prune deletes every stopped VM, each as its own journaled vm.delete
// operation (opID-<n>), and returns them. With dryRun it only returns
// them. A VM is judged under its lock: one that is being created,
// started, running or in error when its turn comes is left alone, so a
// VM someone is using is never removed. A failure to delete one VM does
// not stop the others; the errors are joined.
func (s *Service) Prune(ctx context.Context, opID string, dryRun bool, progress Progress) ([]VM, error) {
	recs, err := s.store.ListVMs(ctx)
	if err != nil {
		return nil, err
	}
	out := []VM{}
	var errs []error
	for i, rec := range recs {
		if State(rec.State) != StateStopped {
			continue
		}
		if dryRun {
			out = append(out, s.toVM(ctx, rec))
			continue
		}
		v, deleted, err := s.pruneOne(ctx, subOpID(opID, fmt.Sprint(i+1)), rec.ID, progress)
		if err != nil {
			errs = append(errs, fmt.Errorf("delete stopped VM %s: %w", rec.Name, err))
			continue
		}
		if deleted {
			out = append(out, v)
		}
	}
	return out, errors.Join(errs...)
}

// pruneOne deletes the VM with id if, under its lock, it is still
// stopped. deleted is false when it was not (or is gone already).
func (s *Service) pruneOne(ctx context.Context, opID, id string, progress Progress) (VM, bool, error) {
	ctx = context.WithoutCancel(ctx)
	rec, unlock, err := s.lockVM(ctx, id)
	if err != nil {
		return VM{}, false, ignoreNotFound(err)
	}
	defer unlock()
	if State(rec.State) != StateStopped {
		return VM{}, false, nil
	}
	v := s.toVM(ctx, rec)
	if err := s.deleteLocked(ctx, opID, rec, progress); err != nil {
		return VM{}, false, err
	}
	return v, true, nil
}

// workDiskFloor is less than any new work disk occupies: an empty ext4
// filesystem copied from its template without its zero blocks takes
// about 336 KiB at the smallest size (256 MiB) and a few MiB at 64 GiB.
const workDiskFloor = 256 << 10

// roomForCreate refuses, before anything is written, a create whose disks
// cannot fit on the filesystem of the VM's directory: the root disk takes
// up to the image's allocated blocks when it is copied (a copy skips zero
// blocks, so it may take less: the check is early by at most the image's
// zero-filled blocks, such as its journal), nothing when it is cloned and the work disk at least workDiskFloor. A create
// that passes and still runs out of room is rolled back. Without a Space
// nothing is checked.
// roomForRestore refuses a VM made from snapshot sn when its clones of
// the snapshot's disks cannot fit.
func (s *Service) roomForRestore(rec store.VM, sn store.Snapshot) error {
	return s.roomForClones(rec.Dir, sn, 1, fmt.Sprintf("creating VM %s from snapshot %s (clones of its disks)", rec.Name, sn.Name))
}

// roomForClones refuses n VMs made from snapshot sn in dir's file system
// when their clones of the snapshot's disks cannot all fit; what names
// the operation in the refusal.
func (s *Service) roomForClones(dir string, sn store.Snapshot, n int, what string) error {
	if s.space == nil {
		return nil
	}
	var need int64
	for _, f := range []string{rootDiskFile, workDiskFile} {
		c, err := s.space.CloneCost(filepath.Join(sn.Dir, f))
		if err != nil {
			return fmt.Errorf("measure the disks of snapshot %s: %w", sn.Name, err)
		}
		need += c
	}
	return s.space.CheckRoom(dir, need*int64(n), what)
}

func (s *Service) roomForCreate(rec store.VM, img store.Image) error {
	if s.space == nil {
		return nil
	}
	root, err := s.space.CloneCost(img.RootFS)
	if err != nil {
		return fmt.Errorf("measure the root filesystem of image %s: %w", img.Name, err)
	}
	return s.space.CheckRoom(rec.Dir, root+workDiskFloor, fmt.Sprintf("creating VM %s (the root disk of image %s and a work disk of %d MiB)", rec.Name, img.Name, rec.DiskBytes>>20))
}
