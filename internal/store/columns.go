package store

import (
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Times are stored as UTC unix nanoseconds; a NULL column is the zero time.

func nanos(t time.Time) int64 { return t.UnixNano() }

func nullNanos(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixNano(), Valid: true}
}

func fromNanos(n int64) time.Time { return time.Unix(0, n).UTC() }

func fromNullNanos(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return fromNanos(n.Int64)
}

// orNow returns t, or now when t is zero.
func orNow(t, now time.Time) time.Time {
	if t.IsZero() {
		return now
	}
	return t
}

// scanner is what *sql.Row and *sql.Rows share.
type scanner interface {
	Scan(dest ...any) error
}

// sqliteCode returns the extended SQLite result code carried by err, or 0.
func sqliteCode(err error) int {
	var e *sqlite.Error
	if errors.As(err, &e) {
		return e.Code()
	}
	return 0
}

// Constraint violation codes the store maps to error kinds.
const (
	codeUnique     = sqlite3.SQLITE_CONSTRAINT_UNIQUE
	codePrimaryKey = sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	codeForeignKey = sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
)

// problems collects what is wrong with a record so that every problem is
// reported at once.
type problems []string

func (p *problems) addf(format string, args ...any) { *p = append(*p, fmt.Sprintf(format, args...)) }

func (p problems) String() string { return strings.Join(p, "; ") }

// checkHexID records a problem unless id is 16 lowercase hex characters.
func (p *problems) checkHexID(field, id string) {
	if len(id) != 16 || strings.Trim(id, "0123456789abcdef") != "" {
		p.addf("%s %q is not 16 lowercase hex characters", field, id)
	}
}

// checkOneOf records a problem unless v is one of allowed.
func (p *problems) checkOneOf(field, v string, allowed []string) {
	if !slices.Contains(allowed, v) {
		p.addf("%s %q is not one of %s", field, v, strings.Join(allowed, ", "))
	}
}

// checkNonNegative records a problem if v is negative.
func (p *problems) checkNonNegative(field string, v int64) {
	if v < 0 {
		p.addf("%s is %d; it cannot be negative", field, v)
	}
}
