package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"banger/internal/errdefs"
)

func validateStep(rec StepRecord) error {
	var p problems
	if rec.OpID == "" {
		p.addf("operation id is empty")
	}
	p.checkNonNegative("seq", int64(rec.Seq))
	if rec.Step == "" {
		p.addf("step name is empty")
	}
	p.checkOneOf("status", rec.Status, stepStatuses)
	if len(p) > 0 {
		return errdefs.InvalidArgumentf("invalid step record %d of operation %q: %s", rec.Seq, rec.OpID, p)
	}
	return nil
}

// AddStep appends rec to its operation's journal; At defaults to now. It
// fails with NotFound if the operation does not exist and AlreadyExists if
// the operation already has a record with rec.Seq.
func (s *Store) AddStep(ctx context.Context, rec StepRecord) error {
	if err := validateStep(rec); err != nil {
		return err
	}
	_, err := s.q.ExecContext(ctx, `INSERT INTO op_steps (op_id, seq, step, status, at, error)
		VALUES (?, ?, ?, ?, ?, ?)`,
		rec.OpID, rec.Seq, rec.Step, rec.Status, nanos(orNow(rec.At, s.now())), rec.Error)
	switch sqliteCode(err) {
	case 0:
	case codePrimaryKey:
		return errdefs.AlreadyExistsf("operation %q already has a step record with seq %d", rec.OpID, rec.Seq)
	case codeForeignKey:
		return opNotFound(rec.OpID)
	}
	if err != nil {
		return fmt.Errorf("record step %s of operation %s: %w", rec.Step, rec.OpID, err)
	}
	return nil
}

// Steps returns the step records of an operation ordered by Seq. It fails
// with NotFound if the operation does not exist.
func (s *Store) Steps(ctx context.Context, opID string) ([]StepRecord, error) {
	rows, err := s.q.QueryContext(ctx, `SELECT op_id, seq, step, status, at, error FROM op_steps
		WHERE op_id = ? ORDER BY seq`, opID)
	if err != nil {
		return nil, fmt.Errorf("read steps of operation %s: %w", opID, err)
	}
	defer rows.Close()
	recs := []StepRecord{}
	for rows.Next() {
		var (
			rec StepRecord
			at  int64
		)
		if err := rows.Scan(&rec.OpID, &rec.Seq, &rec.Step, &rec.Status, &at, &rec.Error); err != nil {
			return nil, fmt.Errorf("read steps of operation %s: %w", opID, err)
		}
		rec.At = fromNanos(at)
		recs = append(recs, rec)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read steps of operation %s: %w", opID, err)
	}
	if len(recs) > 0 {
		return recs, nil
	}
	// No steps: tell an operation without steps from a missing one.
	var one int
	err = s.q.QueryRowContext(ctx, `SELECT 1 FROM operations WHERE id = ?`, opID).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, opNotFound(opID)
	}
	if err != nil {
		return nil, fmt.Errorf("read operation %s: %w", opID, err)
	}
	return recs, nil
}
