package vm

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"banger/internal/process"
	"banger/internal/store"
)

// Reconcile brings the store and the host back in line after a daemon
// restart: live VMMs are re-adopted (paused or running as the VMM says), dead ones are marked stopped with their
// runtime resources released, interrupted creates and starts are rolled
// back, interrupted stops and deletes are finished, and operations left
// running are closed. It then starts watching running VMs.
func (s *Service) Reconcile(ctx context.Context) error {
	ops, err := s.store.RunningOperations(ctx)
	if err != nil {
		return fmt.Errorf("reconcile: %w", err)
	}
	// An interrupted stop, kill or delete may have died before it changed
	// the VM's state, so the journal, not the state, says it must finish.
	interrupted := make(map[string]string, len(ops))
	for _, o := range ops {
		interrupted[o.Target] = o.Kind
	}
	vms, err := s.store.ListVMs(ctx)
	if err != nil {
		return fmt.Errorf("reconcile: %w", err)
	}
	var errs []error
	for _, rec := range vms {
		if err := s.reconcileVM(ctx, rec, interrupted[rec.ID]); err != nil {
			errs = append(errs, fmt.Errorf("VM %s: %w", rec.Name, err))
		}
	}
	if err := s.reconcileRootDevices(ctx); err != nil {
		errs = append(errs, fmt.Errorf("root disk devices: %w", err))
	}
	if err := s.reconcileSnapshots(ctx, ops); err != nil {
		errs = append(errs, fmt.Errorf("snapshots: %w", err))
	}
	if err := s.removeWarmBuilders(ctx); err != nil {
		errs = append(errs, fmt.Errorf("warm start: %w", err))
	}
	if err := s.dropUnusedAutoSnapshots(ctx); err != nil {
		errs = append(errs, fmt.Errorf("snapshots of forks: %w", err))
	}
	for _, o := range ops {
		o.State = "failed"
		o.Error = "interrupted by a daemon restart; reconciled at start-up"
		o.FinishedAt = time.Now()
		if err := s.store.UpdateOperation(ctx, o); err != nil {
			errs = append(errs, err)
		}
	}
	if err := s.store.PruneOperations(ctx, 1000); err != nil {
		errs = append(errs, err)
	}
	s.wg.Add(1)
	go s.watch()
	return errors.Join(errs...)
}

func (s *Service) reconcileVM(ctx context.Context, rec store.VM, interruptedOp string) error {
	unlock := s.locks.lock(rec.ID)
	defer unlock()
	log := s.log.With("vm", rec.Name, "state", rec.State)
	if State(rec.State) != StateCreating && State(rec.State) != StateStarting {
		switch interruptedOp {
		case "vm.delete":
			log.Info("finishing interrupted delete")
			return runAll(ctx, append(s.releaseSteps(&rec), s.deleteSteps(&rec)...))
		case "vm.stop", "vm.kill":
			if State(rec.State) != StateStopped {
				log.Info("finishing interrupted " + interruptedOp)
				return runAll(ctx, s.stopSteps(&rec, interruptedOp == "vm.stop" && live(State(rec.State))))
			}
		}
	}
	switch State(rec.State) {
	case StateCreating:
		if rec.SnapshotID != "" {
			log.Info("rolling back interrupted create from a snapshot")
			return undoAll(ctx, s.restoreSteps(&rec, store.Image{}, store.Snapshot{}), nil)
		}
		log.Info("rolling back interrupted create")
		return undoAll(ctx, s.createSteps(&rec, store.Image{}), nil)
	case StateStarting:
		log.Info("rolling back interrupted start")
		return undoAll(ctx, s.startSteps(&rec, store.Image{}), nil)
	case StateStopping:
		log.Info("finishing interrupted stop")
		return runAll(ctx, s.releaseSteps(&rec))
	case StateDeleting:
		log.Info("finishing interrupted delete")
		return runAll(ctx, append(s.releaseSteps(&rec), s.deleteSteps(&rec)...))
	case StateRunning, StatePaused:
		if process.Alive(rec.PID, rec.PIDStart) {
			log.Info("re-adopted VM", "pid", rec.PID)
			return s.reconcileLive(ctx, rec)
		}
		log.Info("VMM exited while the daemon was down")
		return runAll(ctx, s.releaseSteps(&rec))
	default: // stopped, error
		if rec.PID != 0 && process.Alive(rec.PID, rec.PIDStart) {
			return nil // an error-state VM whose VMM still runs stays for the user to stop
		}
		return os.RemoveAll(rec.RuntimeDir)
	}
}

// runAll runs steps in order, stopping at the first error.
func runAll(ctx context.Context, steps []step) error {
	for _, st := range steps {
		if err := st.do(ctx); err != nil {
			return fmt.Errorf("%s: %w", st.name, err)
		}
	}
	return nil
}

// watch notices VMMs that exit on their own (the guest powered off or the
// VMM crashed) and marks their VMs stopped.
func (s *Service) watch() {
	defer s.wg.Done()
	t := time.NewTicker(s.watchEvery)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.sweep(context.Background())
		}
	}
}

func (s *Service) sweep(ctx context.Context) {
	vms, err := s.store.ListVMs(ctx)
	if err != nil {
		s.log.Warn("watch: list VMs", "err", err)
		return
	}
	for _, rec := range vms {
		if !live(State(rec.State)) || process.Alive(rec.PID, rec.PIDStart) {
			continue
		}
		unlock, ok := s.locks.tryLock(rec.ID)
		if !ok {
			continue // an operation holds the VM; it will see the exit itself
		}
		cur, err := s.store.GetVM(ctx, rec.ID)
		if err == nil && live(State(cur.State)) && !process.Alive(cur.PID, cur.PIDStart) {
			s.log.Info("VMM exited", "vm", cur.Name, "pid", cur.PID)
			if err := runAll(ctx, s.releaseSteps(&cur)); err != nil {
				s.log.Warn("release exited VM", "vm", cur.Name, "err", err)
			}
		}
		unlock()
	}
}

// live reports whether a VM in state st has a booted guest: running or
// paused.
func live(st State) bool { return st == StateRunning || st == StatePaused }
