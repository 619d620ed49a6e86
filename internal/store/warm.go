package store

import (
	"context"
	"fmt"

	"banger/internal/errdefs"
)

// MarkWarm records that snapshot id is the warm-start snapshot for key
// (see migration 0013). A key has at most one warm snapshot.
func (s *Store) MarkWarm(ctx context.Context, id, key string) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO warm_snapshots (snapshot_id, warm_key) VALUES (?, ?)`, id, key)
	if err == nil {
		return nil
	}
	switch sqliteCode(err) {
	case codePrimaryKey, codeUnique:
		return errdefs.AlreadyExistsf("a warm snapshot for key %s already exists", key)
	case codeForeignKey:
		return errdefs.NotFoundf("no snapshot with id %q to mark warm", id)
	}
	return fmt.Errorf("mark snapshot %s warm: %w", id, err)
}

// WarmKeys returns the warm key of every warm snapshot, by snapshot id.
func (s *Store) WarmKeys(ctx context.Context) (map[string]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT snapshot_id, warm_key FROM warm_snapshots`)
	if err != nil {
		return nil, fmt.Errorf("list warm snapshots: %w", err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var id, key string
		if err := rows.Scan(&id, &key); err != nil {
			return nil, fmt.Errorf("list warm snapshots: %w", err)
		}
		out[id] = key
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list warm snapshots: %w", err)
	}
	return out, nil
}
