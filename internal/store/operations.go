package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"banger/internal/errdefs"
)

// Operation is one long-running piece of work (create, start, pull, ...)
// in the journal. A daemon that restarts finds the operations still
// "running" and finishes or rolls them back from their steps.
type Operation struct {
	ID         string // op id, e.g. "op-" + 12 hex
	Kind       string // "vm.create", "vm.start", ...
	Target     string // VM id (or image id)
	State      string // "running","succeeded","failed","rolled_back"
	Step       string // current/last step name
	Error      string
	StartedAt  time.Time
	FinishedAt time.Time // zero while running
}

// StepRecord is one transition of one step of an operation.
type StepRecord struct {
	OpID   string
	Seq    int // assigned by the caller, unique within the operation
	Step   string
	Status string // "started","done","failed","undone","undo_failed"
	At     time.Time
	Error  string
}

var (
	opStates     = []string{"running", "succeeded", "failed", "rolled_back"}
	stepStatuses = []string{"started", "done", "failed", "undone", "undo_failed"}
)

const opColumns = `id, kind, target, state, step, error, started_at, finished_at`

func validateOperation(op Operation) error {
	var p problems
	if op.ID == "" {
		p.addf("id is empty")
	}
	if op.Kind == "" {
		p.addf("kind is empty")
	}
	p.checkOneOf("state", op.State, opStates)
	if len(p) > 0 {
		return errdefs.InvalidArgumentf("invalid operation record %q: %s", op.ID, p)
	}
	return nil
}

func scanOperation(sc scanner) (Operation, error) {
	var (
		op       Operation
		started  int64
		finished sql.NullInt64
	)
	if err := sc.Scan(&op.ID, &op.Kind, &op.Target, &op.State, &op.Step, &op.Error, &started, &finished); err != nil {
		return Operation{}, err
	}
	op.StartedAt, op.FinishedAt = fromNanos(started), fromNullNanos(finished)
	return op, nil
}

// CreateOperation inserts op; StartedAt defaults to now. It fails with
// AlreadyExists if the id is taken.
func (s *Store) CreateOperation(ctx context.Context, op Operation) error {
	if err := validateOperation(op); err != nil {
		return err
	}
	_, err := s.q.ExecContext(ctx, `INSERT INTO operations (`+opColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		op.ID, op.Kind, op.Target, op.State, op.Step, op.Error,
		nanos(orNow(op.StartedAt, s.now())), nullNanos(op.FinishedAt))
	if sqliteCode(err) == codePrimaryKey {
		return errdefs.AlreadyExistsf("an operation with id %q already exists", op.ID)
	}
	if err != nil {
		return fmt.Errorf("write operation %s: %w", op.ID, err)
	}
	return nil
}

// UpdateOperation replaces the record with op.ID by op, except StartedAt,
// which never changes. It fails with NotFound if the operation is gone.
func (s *Store) UpdateOperation(ctx context.Context, op Operation) error {
	if err := validateOperation(op); err != nil {
		return err
	}
	res, err := s.q.ExecContext(ctx, `UPDATE operations SET kind = ?, target = ?, state = ?, step = ?,
		error = ?, finished_at = ? WHERE id = ?`,
		op.Kind, op.Target, op.State, op.Step, op.Error, nullNanos(op.FinishedAt), op.ID)
	if err != nil {
		return fmt.Errorf("write operation %s: %w", op.ID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("write operation %s: %w", op.ID, err)
	}
	if n == 0 {
		return opNotFound(op.ID)
	}
	return nil
}

func opNotFound(id string) error {
	return errdefs.NotFoundf("no operation with id %q; finished operations are pruned after a while", id)
}

// GetOperation returns the operation with the given id.
func (s *Store) GetOperation(ctx context.Context, id string) (Operation, error) {
	op, err := scanOperation(s.q.QueryRowContext(ctx, `SELECT `+opColumns+` FROM operations WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Operation{}, opNotFound(id)
	}
	if err != nil {
		return Operation{}, fmt.Errorf("read operation %s: %w", id, err)
	}
	return op, nil
}

// ListOperations returns up to limit operations, newest first; a limit of
// zero or less means all of them.
func (s *Store) ListOperations(ctx context.Context, limit int) ([]Operation, error) {
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	return s.queryOperations(ctx, `SELECT `+opColumns+` FROM operations
		ORDER BY started_at DESC, id DESC LIMIT ?`, limit)
}

// RunningOperations returns the operations whose state is "running",
// oldest first.
func (s *Store) RunningOperations(ctx context.Context) ([]Operation, error) {
	return s.queryOperations(ctx, `SELECT `+opColumns+` FROM operations
		WHERE state = 'running' ORDER BY started_at, id`)
}

func (s *Store) queryOperations(ctx context.Context, query string, args ...any) ([]Operation, error) {
	return queryAll(ctx, s.q, "list operations", scanOperation, query, args...)
}

// PruneOperations deletes finished (not "running") operations, with their
// steps, beyond the newest keep finished ones. Running operations are
// never pruned.
func (s *Store) PruneOperations(ctx context.Context, keep int) error {
	if keep < 0 {
		return errdefs.InvalidArgumentf("prune operations: keep is %d; it cannot be negative", keep)
	}
	_, err := s.q.ExecContext(ctx, `DELETE FROM operations WHERE state <> 'running' AND id NOT IN (
		SELECT id FROM operations WHERE state <> 'running' ORDER BY started_at DESC, id DESC LIMIT ?)`, keep)
	if err != nil {
		return fmt.Errorf("prune operations: %w", err)
	}
	return nil
}
