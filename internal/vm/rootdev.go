package vm

import (
	"context"
	"errors"
	"fmt"

	"banger/internal/store"
	"banger/internal/vmm"
)

// attachRootStep makes the root disk a block device when the disks need
// one (RootDevices) and points spec at it; undone by removing it.
func (s *Service) attachRootStep(rec *store.VM, spec *vmm.Spec) step {
	return step{
		name: "attach-root-disk",
		do: func(ctx context.Context) error {
			rd, ok := s.disks.(RootDevices)
			if !ok {
				return nil
			}
			dev, err := rd.AttachRootDisk(ctx, rec.ID, spec.RootDisk)
			if err != nil {
				return fmt.Errorf("make the root disk device of %s: %w", rec.Name, err)
			}
			spec.RootDisk = dev
			return nil
		},
		undo: func(ctx context.Context) error { return s.detachRoot(rec.ID) },
	}
}

// detachRootSteps is the step that removes rec's root disk device, when
// the disks make them.
func (s *Service) detachRootSteps(rec *store.VM) []step {
	if _, ok := s.disks.(RootDevices); !ok {
		return nil
	}
	return []step{{name: "detach-root-disk", do: func(ctx context.Context) error { return s.detachRoot(rec.ID) }}}
}

// detachRoot removes VM id's root disk device, if the disks make them.
func (s *Service) detachRoot(id string) error {
	if rd, ok := s.disks.(RootDevices); ok {
		return rd.DetachRootDisk(id)
	}
	return nil
}

// withRootDisk runs f on the path through which the root disk file root
// of the stopped VM id is written: the file itself, or its device, made
// for f and removed after.
func (s *Service) withRootDisk(ctx context.Context, id, root string, f func(path string) error) error {
	rd, ok := s.disks.(RootDevices)
	if !ok {
		return f(root)
	}
	dev, err := rd.AttachRootDisk(ctx, id, root)
	if err != nil {
		return err
	}
	return errors.Join(f(dev), rd.DetachRootDisk(id))
}

// reconcileRootDevices removes the root disk devices a previous daemon
// left for VMs that are gone or no longer running: the host keeps them
// across a daemon crash. Running and paused VMs keep theirs.
func (s *Service) reconcileRootDevices(ctx context.Context) error {
	rd, ok := s.disks.(RootDevices)
	if !ok {
		return nil
	}
	ids, err := rd.AttachedRootDisks()
	if err != nil {
		return err
	}
	var errs []error
	for _, id := range ids {
		rec, err := s.store.GetVM(ctx, id)
		if err := ignoreNotFound(err); err != nil {
			errs = append(errs, err)
			continue
		}
		if err == nil && live(State(rec.State)) {
			continue
		}
		s.log.Info("removing the root disk device of a VM that is gone or stopped", "vm", id)
		errs = append(errs, rd.DetachRootDisk(id))
	}
	return errors.Join(errs...)
}
