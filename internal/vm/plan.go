package vm

import (
	"context"
	"errors"
	"fmt"
	"time"

	"banger/internal/store"
)

// rollbackTimeout bounds the undo of a failed plan. Rollback runs under a
// context detached from the caller so a client that hangs up or a request
// that is cancelled still gets its host resources released.
const rollbackTimeout = 2 * time.Minute

// step is one named, idempotent unit of a lifecycle operation. undo releases
// what do acquired; it must succeed when do never ran or ran only partly,
// because a restarted daemon undoes every step of an interrupted plan
// without knowing how far it got.
type step struct {
	name string
	do   func(ctx context.Context) error
	undo func(ctx context.Context) error
}

// Progress receives the events of an operation as they happen. It may be
// nil.
type Progress func(Event)

// op is one running operation: its journal record and its listener.
type op struct {
	svc      *Service
	rec      store.Operation
	vmName   string
	progress Progress
	seq      int
}

// newOp records a running operation of kind on VM id.
func (s *Service) newOp(ctx context.Context, opID, kind, vmID, vmName string, progress Progress) (*op, error) {
	if opID == "" {
		opID = NewOpID()
	}
	rec := store.Operation{ID: opID, Kind: kind, Target: vmID, State: "running", StartedAt: time.Now()}
	if err := s.store.CreateOperation(context.WithoutCancel(ctx), rec); err != nil {
		return nil, fmt.Errorf("record operation: %w", err)
	}
	return &op{svc: s, rec: rec, vmName: vmName, progress: progress}, nil
}

func (o *op) emit(ev Event) {
	ev.Time = time.Now()
	ev.OpID = o.rec.ID
	ev.Kind = o.rec.Kind
	ev.Target = o.vmName
	if o.progress != nil {
		o.progress(ev)
	}
	o.svc.events.Publish(ev)
}

// journal records a step transition: "started" before each step, and
// "failed", "undone" or "undo_failed" when things go wrong. A step is done
// when the next one started or the operation succeeded, so success costs
// one write per step. Journal writes use a detached context: the record of
// what happened must survive the caller going away.
func (o *op) journal(ctx context.Context, name, status string, stepErr error) {
	o.seq++
	rec := store.StepRecord{OpID: o.rec.ID, Seq: o.seq, Step: name, Status: status, At: time.Now()}
	if stepErr != nil {
		rec.Error = stepErr.Error()
	}
	if err := o.svc.store.AddStep(context.WithoutCancel(ctx), rec); err != nil {
		o.svc.log.Warn("journal step", "op_id", o.rec.ID, "step", name, "err", err)
	}
}

// finish closes the operation record with its final state.
func (o *op) finish(ctx context.Context, state string, err error) {
	o.rec.State = state
	o.rec.FinishedAt = time.Now()
	if err != nil {
		o.rec.Error = err.Error()
	}
	if uerr := o.svc.store.UpdateOperation(context.WithoutCancel(ctx), o.rec); uerr != nil {
		o.svc.log.Warn("finish operation", "op_id", o.rec.ID, "err", uerr)
	}
}

// run executes steps in order. When one fails, the undo functions of the
// steps that started are run in reverse order under a detached context, and
// the step's error is returned. The operation record is finished either way.
func (o *op) run(ctx context.Context, steps []step) error {
	var started []step
	for i, st := range steps {
		if err := o.svc.hooks.beforeStep(o.rec.Kind, st.name); errors.Is(err, ErrSkipStep) {
			continue
		} else if err != nil {
			return o.rollback(ctx, started, st.name, err)
		}
		o.rec.Step = st.name
		o.journal(ctx, st.name, "started", nil)
		o.emit(Event{Type: EventStep, Step: st.name, Index: i + 1, Total: len(steps)})
		started = append(started, st)
		err := ctx.Err()
		if err == nil {
			err = st.do(ctx)
		}
		if err != nil {
			o.journal(ctx, st.name, "failed", err)
			return o.rollback(ctx, started, st.name, err)
		}
	}
	o.finish(ctx, "succeeded", nil)
	return nil
}

func (o *op) rollback(ctx context.Context, started []step, failed string, cause error) error {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rollbackTimeout)
	defer cancel()
	undoErr := undoAll(rctx, started, func(name string, err error) {
		if err != nil {
			o.journal(rctx, name, "undo_failed", err)
			o.svc.log.Error("rollback step failed", "op_id", o.rec.ID, "step", name, "err", err)
			return
		}
		o.journal(rctx, name, "undone", nil)
	})
	err := fmt.Errorf("%s: %w", failed, cause)
	if errors.Is(cause, context.Canceled) {
		err = fmt.Errorf("%s: cancelled, rolled back", failed)
	}
	if undoErr != nil {
		err = errors.Join(err, fmt.Errorf("rollback incomplete (%w); run banger vm delete to clean up", undoErr))
		o.finish(rctx, "failed", err)
		return err
	}
	o.finish(rctx, "rolled_back", err)
	return err
}

// undoAll runs the undo functions of steps in reverse order, continuing past
// failures, and reports each result to report.
func undoAll(ctx context.Context, steps []step, report func(string, error)) error {
	var errs []error
	for i := len(steps) - 1; i >= 0; i-- {
		st := steps[i]
		if st.undo == nil {
			continue
		}
		err := st.undo(ctx)
		if report != nil {
			report(st.name, err)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("undo %s: %w", st.name, err))
		}
	}
	return errors.Join(errs...)
}

// runForward executes steps in order without rollback: the plans that
// release resources (stop, kill, delete) must be finished, not undone. It
// stops at the first failure and returns it.
func (o *op) runForward(ctx context.Context, steps []step) error {
	for i, st := range steps {
		if err := o.svc.hooks.beforeStep(o.rec.Kind, st.name); errors.Is(err, ErrSkipStep) {
			continue
		} else if err != nil {
			o.finish(ctx, "failed", err)
			return err
		}
		o.rec.Step = st.name
		o.journal(ctx, st.name, "started", nil)
		o.emit(Event{Type: EventStep, Step: st.name, Index: i + 1, Total: len(steps)})
		if err := st.do(ctx); err != nil {
			o.journal(ctx, st.name, "failed", err)
			err = fmt.Errorf("%s: %w", st.name, err)
			o.finish(ctx, "failed", err)
			return err
		}
	}
	o.finish(ctx, "succeeded", nil)
	return nil
}
