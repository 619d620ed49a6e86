package store

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"strconv"

	"banger/internal/errdefs"
)

// migrationFiles holds the schema migrations, named NNNN_description.sql and
// numbered from 0001 without gaps. They are forward-only: a released
// migration is never edited, a change is a new file.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// migration is one numbered schema change.
type migration struct {
	Version int
	Name    string
	SQL     string
}

var migrationName = regexp.MustCompile(`^(\d{4})_[a-z0-9_]+\.sql$`)

// loadMigrations reads the migrations under migrations/ in fsys, in version
// order, and checks they are numbered 1, 2, 3, ... without gaps.
func loadMigrations(fsys fs.FS) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, "migrations")
	if err != nil {
		return nil, fmt.Errorf("read embedded migrations: %w", err)
	}
	var ms []migration
	for _, e := range entries { // ReadDir sorts by name, so by version
		m := migrationName.FindStringSubmatch(e.Name())
		if m == nil || e.IsDir() {
			return nil, errdefs.Internalf("migration %q is not named NNNN_description.sql", e.Name())
		}
		v, _ := strconv.Atoi(m[1]) // four digits always parse
		if want := len(ms) + 1; v != want {
			return nil, errdefs.Internalf("migration %q has version %d, want %d: migrations must be numbered from 0001 without gaps or repeats", e.Name(), v, want)
		}
		b, err := fs.ReadFile(fsys, path.Join("migrations", e.Name()))
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", e.Name(), err)
		}
		ms = append(ms, migration{Version: v, Name: e.Name(), SQL: string(b)})
	}
	if len(ms) == 0 {
		return nil, errdefs.Internalf("no schema migrations are embedded in this binary")
	}
	return ms, nil
}

// migrate brings db up to the last of ms, applying each pending migration
// in its own transaction together with the new user_version, so a failed
// migration leaves the database at the previous version. A database at a
// version newer than the last of ms is refused.
func migrate(ctx context.Context, db *sql.DB, ms []migration) error {
	latest := ms[len(ms)-1].Version
	current, err := userVersion(ctx, db)
	if err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if current > latest {
		return errdefs.FailedPreconditionf(
			"schema version %d is newer than the %d this banger knows: a newer banger wrote it; upgrade banger",
			current, latest)
	}
	for _, m := range ms {
		if m.Version <= current {
			continue
		}
		if err := applyMigration(ctx, db, m); err != nil {
			return err
		}
	}
	return nil
}

// applyMigration runs one migration and records its version atomically. It
// re-reads the version inside the transaction, so another process that
// migrated first is not migrated over.
func applyMigration(ctx context.Context, db *sql.DB, m migration) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("apply migration %s: %w", m.Name, err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	v, err := userVersion(ctx, tx)
	if err != nil {
		return fmt.Errorf("apply migration %s: %w", m.Name, err)
	}
	if v >= m.Version {
		return nil
	}
	if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
		return fmt.Errorf("apply migration %s: %w", m.Name, err)
	}
	// PRAGMA takes no bound parameters; the version is an int we control.
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", m.Version)); err != nil {
		return fmt.Errorf("apply migration %s: set version: %w", m.Name, err)
	}
	bad, err := queryStrings(ctx, tx, `SELECT "table" FROM pragma_foreign_key_check`)
	if err != nil {
		return fmt.Errorf("apply migration %s: foreign key check: %w", m.Name, err)
	}
	if len(bad) > 0 {
		return errdefs.Internalf("apply migration %s: it leaves %d rows with dangling foreign keys (first in table %s)", m.Name, len(bad), bad[0])
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("apply migration %s: commit: %w", m.Name, err)
	}
	return nil
}

// userVersion reads PRAGMA user_version, the schema version.
func userVersion(ctx context.Context, q querier) (int, error) {
	var v int
	err := q.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v)
	return v, err
}
