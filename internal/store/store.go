// Package store is banger's embedded state database: VM and image records
// and the journal of operations and their steps, kept in one SQLite file
// (pure-Go driver, WAL mode, foreign keys on) with numbered, forward-only
// migrations embedded in the binary. It owns the schema and the mapping of
// database errors to errdefs kinds. It must not decide policy (what a state
// transition means, when to roll back), touch host resources, or import any
// other banger package except errdefs.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"banger/internal/errdefs"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
	sqlite3 "modernc.org/sqlite/lib"
)

// busyTimeout is how long a connection waits for another process's lock
// before giving up with SQLITE_BUSY. Within one process all access goes
// through a single connection, so it only matters across processes.
const busyTimeout = 5 * time.Second

// Store is a handle on the state database. It is safe for concurrent use by
// many goroutines: every statement runs on one shared connection, which
// serialises writers inside the process and so never sees SQLITE_BUSY.
type Store struct {
	db   *sql.DB
	q    *stmts // s.db's statements outside transactions, prepared once
	path string
	now  func() time.Time // the clock for UpdatedAt and defaulted times
}

// Open opens the database at path, creating it (mode 0600) if it does not
// exist, and migrates it to the newest schema this binary knows. The
// directory must already exist. A database written by a newer banger is
// refused with a FailedPrecondition error.
func Open(ctx context.Context, path string) (*Store, error) {
	db, abs, err := openDB(ctx, path)
	if err != nil {
		return nil, err
	}
	ms, err := loadMigrations(migrationFiles)
	if err != nil {
		db.Close()
		return nil, err
	}
	if err := migrate(ctx, db, ms); err != nil {
		db.Close()
		return nil, fmt.Errorf("state database %s: %w", abs, err)
	}
	return &Store{db: db, q: &stmts{db: db}, path: abs, now: time.Now}, nil
}

// openDB creates the file if needed and opens it with banger's connection
// settings, without migrating.
func openDB(ctx context.Context, path string) (*sql.DB, string, error) {
	if path == "" {
		return nil, "", errdefs.InvalidArgumentf("open state database: no path given")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, "", fmt.Errorf("open state database %s: %w", path, err)
	}
	dir := filepath.Dir(abs)
	if fi, err := os.Stat(dir); err != nil {
		return nil, "", errdefs.FailedPreconditionf("open state database %s: %w: create the state directory first", abs, err)
	} else if !fi.IsDir() {
		return nil, "", errdefs.FailedPreconditionf("open state database %s: %s is not a directory", abs, dir)
	}
	// Create the file ourselves so its mode is 0600 from birth; SQLite
	// gives the -wal and -shm files the same mode as the database file.
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, "", fmt.Errorf("open state database %s: %w", abs, err)
	}
	if err := f.Close(); err != nil {
		return nil, "", fmt.Errorf("open state database %s: %w", abs, err)
	}

	db, err := sql.Open("sqlite", dsn(abs))
	if err != nil {
		return nil, "", fmt.Errorf("open state database %s: %w", abs, err)
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		if c := sqliteCode(err) & 0xff; c == sqlite3.SQLITE_NOTADB || c == sqlite3.SQLITE_CORRUPT {
			return nil, "", errdefs.FailedPreconditionf("open state database %s: %w: restore it from a backup, or move it aside to start afresh", abs, err)
		}
		return nil, "", fmt.Errorf("open state database %s: %w", abs, err)
	}
	return db, abs, nil
}

// dsn is the driver's connection string for the database file at abs. The
// path is written as a file: URI so that characters such as '?' or '%' in
// it cannot be mistaken for parameters.
func dsn(abs string) string {
	q := url.Values{}
	q.Set("_busy_timeout", fmt.Sprint(busyTimeout.Milliseconds()))
	q.Set("_foreign_keys", "1")
	q.Set("_journal_mode", "WAL")
	q.Set("_synchronous", "NORMAL")
	q.Set("_txlock", "immediate")
	return "file:" + (&url.URL{Path: abs}).EscapedPath() + "?" + q.Encode()
}

// Close closes the database. The Store must not be used afterwards.
func (s *Store) Close() error {
	if err := errors.Join(s.q.close(), s.db.Close()); err != nil {
		return fmt.Errorf("close state database %s: %w", s.path, err)
	}
	return nil
}

// Path returns the absolute path of the database file.
func (s *Store) Path() string { return s.path }

// SchemaVersion returns the schema version the database is at.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	v, err := userVersion(ctx, s.db)
	if err != nil {
		return 0, fmt.Errorf("read schema version of %s: %w", s.path, err)
	}
	return v, nil
}

// Check runs SQLite's quick integrity check and a foreign key check, for
// doctor. A damaged database gives a FailedPrecondition error listing the
// first problems found.
func (s *Store) Check(ctx context.Context) error {
	problems, err := queryStrings(ctx, s.db, "PRAGMA quick_check")
	if err != nil {
		return fmt.Errorf("check state database %s: %w", s.path, err)
	}
	if len(problems) == 1 && problems[0] == "ok" {
		problems = nil
	}
	fk, err := queryStrings(ctx, s.db,
		"SELECT format('%s row %d references a missing %s', \"table\", rowid, parent) FROM pragma_foreign_key_check")
	if err != nil {
		return fmt.Errorf("check state database %s: %w", s.path, err)
	}
	problems = append(problems, fk...)
	if len(problems) == 0 {
		return nil
	}
	const show = 5
	more := ""
	if len(problems) > show {
		more = fmt.Sprintf(" (and %d more)", len(problems)-show)
		problems = problems[:show]
	}
	return errdefs.FailedPreconditionf(
		"state database %s failed its integrity check: %s%s: stop bangerd and restore the file from a backup, or move it aside to start afresh",
		s.path, strings.Join(problems, "; "), more)
}

// queryStrings runs a query returning one text column and collects it.
func queryStrings(ctx context.Context, q querier, query string, args ...any) ([]string, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// queryAll runs query on q and scans every row with scan, into a list that
// is empty, not nil, when no row matches; errors are wrapped with what.
func queryAll[T any](ctx context.Context, q querier, what string, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

// querier is what *sql.DB and *sql.Tx share.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// inTx runs fn in a write transaction (BEGIN IMMEDIATE) and commits it if
// fn returns nil.
func (s *Store) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		// Rollback fails with ErrTxDone when a cancelled context already
		// ended the transaction; either way fn's error is the one to report.
		if rbErr := tx.Rollback(); rbErr != nil && !errors.Is(rbErr, sql.ErrTxDone) {
			return errors.Join(err, rbErr)
		}
		return err
	}
	return tx.Commit()
}
