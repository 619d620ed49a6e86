package vm

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"banger/internal/errdefs"
	"banger/internal/process"
	"banger/internal/store"
	"banger/internal/vmm"
)

// killWait bounds the wait for a SIGKILLed VMM to disappear.
const killWait = 10 * time.Second

// Stop asks the guest to shut down, waits up to the configured stop timeout
// and then kills the VMM. Stopping a stopped VM is a no-op. Stop is finished
// even when the caller goes away.
func (s *Service) Stop(ctx context.Context, opID, ref string, progress Progress) (VM, error) {
	return s.halt(ctx, opID, ref, "vm.stop", true, progress)
}

// Kill stops the VM at once with SIGKILL.
func (s *Service) Kill(ctx context.Context, opID, ref string, progress Progress) (VM, error) {
	return s.halt(ctx, opID, ref, "vm.kill", false, progress)
}

func (s *Service) halt(ctx context.Context, opID, ref, kind string, graceful bool, progress Progress) (VM, error) {
	ctx = context.WithoutCancel(ctx)
	rec, unlock, err := s.lockVM(ctx, ref)
	if err != nil {
		return VM{}, err
	}
	defer unlock()
	switch State(rec.State) {
	case StateStopped:
		return s.toVM(ctx, rec), nil
	case StateCreating, StateDeleting:
		return VM{}, errdefs.FailedPreconditionf("VM %s is %s: wait for it to finish, then try again", rec.Name, rec.State)
	}
	o, err := s.newOp(ctx, opID, kind, rec.ID, rec.Name, progress)
	if err != nil {
		return VM{}, err
	}
	if err := o.runForward(ctx, s.stopSteps(&rec, graceful)); err != nil {
		s.markError(ctx, &rec, err)
		return VM{}, err
	}
	return s.toVM(ctx, rec), nil
}

// markError records err on the VM and moves it to the error state.
func (s *Service) markError(ctx context.Context, rec *store.VM, err error) {
	rec.LastError = err.Error()
	if serr := s.setState(ctx, rec, StateError); serr != nil {
		s.log.Error("record VM error", "vm", rec.Name, "err", serr)
	}
}

// stopSteps is the stop plan (graceful) or the kill plan. Every step is
// safe to repeat, so a restarted daemon simply runs the whole plan again.
func (s *Service) stopSteps(rec *store.VM, graceful bool) []step {
	steps := []step{{
		name: "mark-stopping",
		do:   func(ctx context.Context) error { return s.setState(ctx, rec, StateStopping) },
	}}
	if graceful {
		// A paused guest cannot hear the request: it is resumed first.
		wasPaused := State(rec.State) == StatePaused
		steps = append(steps,
			step{name: "request-shutdown", do: func(ctx context.Context) error {
				if wasPaused {
					p := vmm.Process{PID: rec.PID, StartTime: rec.PIDStart, APISocket: rec.APISocket}
					if err := s.driverOf(*rec).Resume(ctx, p); err != nil {
						s.log.Warn("resume the paused VM to shut it down", "vm", rec.Name, "err", err)
					}
				}
				if err := s.askShutdown(ctx, *rec); err != nil {
					// The guest could not be asked; the forced stop below still stops it.
					s.log.Warn("graceful shutdown request failed", "vm", rec.Name, "err", err)
				}
				return nil
			}},
			step{name: "wait-exit", do: func(ctx context.Context) error {
				err := process.WaitExit(ctx, rec.PID, rec.PIDStart, s.defaults.StopTimeout)
				if errors.Is(err, process.ErrTimeout) {
					s.log.Info("guest did not shut down in time, killing it", "vm", rec.Name, "timeout", s.defaults.StopTimeout)
					return nil
				}
				return err
			}},
		)
	}
	return append(steps, s.releaseSteps(rec)...)
}

// releaseSteps kill whatever VMM is left and release the VM's runtime
// resources, leaving it stopped.
func (s *Service) releaseSteps(rec *store.VM) []step {
	return slices.Concat([]step{
		{name: "kill-vmm", do: func(ctx context.Context) error {
			s.agents.drop(rec.ID, nil)
			if err := s.killVMM(ctx, *rec); err != nil {
				return fmt.Errorf("kill VMM of %s: %w", rec.Name, err)
			}
			return nil
		}},
	}, s.detachRootSteps(rec), []step{
		{name: "detach-network", do: func(ctx context.Context) error { return s.detach(ctx, *rec) }},
		{name: "release-runtime", do: func(ctx context.Context) error { return os.RemoveAll(rec.RuntimeDir) }},
		{name: "mark-stopped", do: func(ctx context.Context) error {
			rec.PID, rec.PIDStart = 0, 0
			return s.setState(ctx, rec, StateStopped)
		}},
	})
}

// Restart stops the VM (gracefully) and starts it again.
func (s *Service) Restart(ctx context.Context, opID, ref string, progress Progress) (VM, error) {
	if _, err := s.Stop(ctx, opID, ref, progress); err != nil {
		return VM{}, err
	}
	return s.Start(ctx, subOpID(opID, "start"), ref, progress)
}

// Delete removes a VM and everything it owns. A running VM is stopped
// gracefully first. Delete is finished even when the caller goes away.
func (s *Service) Delete(ctx context.Context, opID, ref string, progress Progress) error {
	ctx = context.WithoutCancel(ctx)
	rec, unlock, err := s.lockVM(ctx, ref)
	if err != nil {
		return err
	}
	defer unlock()
	if State(rec.State) == StateCreating {
		return errdefs.FailedPreconditionf("VM %s is still being created: wait for it to finish, then try again", rec.Name)
	}
	return s.deleteLocked(ctx, opID, rec, progress)
}

// deleteLocked deletes rec, whose lock the caller holds and which is not
// being created, as the operation opID.
func (s *Service) deleteLocked(ctx context.Context, opID string, rec store.VM, progress Progress) error {
	o, err := s.newOp(ctx, opID, "vm.delete", rec.ID, rec.Name, progress)
	if err != nil {
		return err
	}
	var steps []step
	if State(rec.State) != StateStopped {
		steps = s.stopSteps(&rec, live(State(rec.State)))
	}
	steps = append(steps, s.deleteSteps(&rec)...)
	if err := o.runForward(ctx, steps); err != nil {
		s.markError(ctx, &rec, err)
		return err
	}
	s.events.Publish(Event{Type: EventVM, Time: time.Now(), Target: rec.Name, State: StateDeleted})
	if rec.SnapshotID != "" {
		// The last VM of a fork takes the fork's snapshot with it.
		if err := s.dropAutoSnapshot(ctx, rec.SnapshotID); err != nil {
			s.log.Warn("remove the snapshot of a fork", "snapshot", rec.SnapshotID, "err", err)
		}
	}
	return nil
}

// deleteSteps removes a stopped VM's files and record.
func (s *Service) deleteSteps(rec *store.VM) []step {
	return slices.Concat([]step{
		{name: "mark-deleting", do: func(ctx context.Context) error { return s.setState(ctx, rec, StateDeleting) }},
		{name: "remove-runtime", do: func(ctx context.Context) error { return os.RemoveAll(rec.RuntimeDir) }},
	}, s.detachRootSteps(rec), []step{
		{name: "remove-files", do: func(ctx context.Context) error { return os.RemoveAll(rec.Dir) }},
		{name: "release-address", do: func(ctx context.Context) error {
			if s.net == nil {
				return nil
			}
			return s.net.Release(ctx, rec.ID)
		}},
		{name: "remove-ssh-pins", do: func(ctx context.Context) error {
			if s.ssh == nil {
				return nil
			}
			return s.ssh.Unpin(rec.ID)
		}},
		{name: "remove-record", do: func(ctx context.Context) error { return ignoreNotFound(s.store.DeleteVM(ctx, rec.ID)) }},
	})
}
