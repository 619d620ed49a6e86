package vm

import (
	"context"
	"errors"
	"fmt"

	"banger/internal/errdefs"
	"banger/internal/store"
	"banger/internal/vmm"
)

// Pause stops a running VM's vCPUs. Its VMM keeps running with the guest's
// memory and devices, so the VM keeps its address, forwards and name.
// Pausing a paused VM is a no-op. Pause is finished even when the caller
// goes away.
func (s *Service) Pause(ctx context.Context, opID, ref string, progress Progress) (VM, error) {
	return s.pauseOrResume(ctx, opID, ref, true, progress)
}

// Resume lets a paused VM's vCPUs run again. Resuming a running VM is a
// no-op.
func (s *Service) Resume(ctx context.Context, opID, ref string, progress Progress) (VM, error) {
	return s.pauseOrResume(ctx, opID, ref, false, progress)
}

func (s *Service) pauseOrResume(ctx context.Context, opID, ref string, pause bool, progress Progress) (VM, error) {
	ctx = context.WithoutCancel(ctx)
	rec, unlock, err := s.lockVM(ctx, ref)
	if err != nil {
		return VM{}, err
	}
	defer unlock()
	from, to, kind := StateRunning, StatePaused, "vm.pause"
	if !pause {
		from, to, kind = StatePaused, StateRunning, "vm.resume"
	}
	switch State(rec.State) {
	case to:
		return s.toVM(ctx, rec), nil
	case from:
	case StateStopped, StateError:
		return VM{}, errdefs.FailedPreconditionf("VM %s is %s: start it with banger vm start %s", rec.Name, rec.State, rec.Name)
	default:
		return VM{}, errdefs.FailedPreconditionf("VM %s is %s: wait for it to finish, then try again", rec.Name, rec.State)
	}
	o, err := s.newOp(ctx, opID, kind, rec.ID, rec.Name, progress)
	if err != nil {
		return VM{}, err
	}
	if err := o.run(ctx, s.pauseSteps(&rec, pause)); err != nil {
		return VM{}, err
	}
	return s.toVM(ctx, rec), nil
}

// pauseSteps is the pause plan (pause) or the resume plan. A daemon killed
// during either finds the truth in the VMM when it restarts (see
// reconcileLive).
func (s *Service) pauseSteps(rec *store.VM, pause bool) []step {
	d := s.driverOf(*rec)
	p := vmm.Process{PID: rec.PID, StartTime: rec.PIDStart, APISocket: rec.APISocket}
	act, undo, name, state := d.Pause, d.Resume, "pause-vcpus", StatePaused
	if !pause {
		act, undo, name, state = d.Resume, d.Pause, "resume-vcpus", StateRunning
	}
	return []step{
		{
			name: name,
			do: func(ctx context.Context) error {
				if err := act(ctx, p); err != nil {
					if errors.Is(err, vmm.ErrNotRunning) {
						return errdefs.FailedPreconditionf("the VMM of VM %s has exited (%w): see banger vm logs %s", rec.Name, err, rec.Name)
					}
					return err
				}
				return nil
			},
			undo: func(ctx context.Context) error {
				if err := undo(ctx, p); err != nil && !errors.Is(err, vmm.ErrNotRunning) {
					return err
				}
				return nil
			},
		},
		{
			name: "mark-" + string(state),
			do:   func(ctx context.Context) error { return s.setState(ctx, rec, state) },
		},
	}
}

// reconcileLive re-adopts a running or paused VM whose VMM is alive,
// recording whether it is paused as the VMM says: a pause or resume the
// daemon died in may have reached the VMM and not the store, or the other
// way round.
func (s *Service) reconcileLive(ctx context.Context, rec store.VM) error {
	paused, err := s.driverOf(rec).Paused(ctx, vmm.Process{PID: rec.PID, StartTime: rec.PIDStart, APISocket: rec.APISocket})
	if err != nil {
		if errors.Is(err, vmm.ErrNotRunning) {
			return runAll(ctx, s.releaseSteps(&rec))
		}
		s.log.Warn("could not ask the VMM whether the VM is paused; keeping the recorded state", "vm", rec.Name, "err", err)
		return nil
	}
	want := StateRunning
	if paused {
		want = StatePaused
	}
	if State(rec.State) == want {
		return nil
	}
	s.log.Info("the VMM says the VM is "+string(want), "vm", rec.Name, "recorded", rec.State)
	if err := s.setState(ctx, &rec, want); err != nil {
		return fmt.Errorf("record VM %s %s: %w", rec.Name, want, err)
	}
	return nil
}

// errPaused refuses what a paused guest cannot do.
func errPaused(rec store.VM) error {
	return errdefs.FailedPreconditionf("VM %s is paused: resume it with banger vm resume %s", rec.Name, rec.Name)
}
