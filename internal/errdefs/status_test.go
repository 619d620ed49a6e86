package errdefs

import (
	"net/http"
	"testing"
)

// wantStatus is docs/api.md's table, written out so that a change to the
// mapping is deliberate.
var wantStatus = map[Kind]int{
	NotFound:           404,
	AlreadyExists:      409,
	InvalidArgument:    400,
	FailedPrecondition: 412,
	Unavailable:        503,
	Internal:           500,
}

func TestHTTPStatusEveryKindBothWays(t *testing.T) {
	if len(wantStatus) != len(Kinds) {
		t.Fatalf("the test's table has %d kinds, Kinds has %d: add the new kind here and to docs/api.md", len(wantStatus), len(Kinds))
	}
	seen := map[int]Kind{}
	for _, k := range Kinds {
		want, ok := wantStatus[k]
		if !ok {
			t.Errorf("kind %s has no expected status in the test's table", k)
			continue
		}
		got := HTTPStatus(k)
		if got != want {
			t.Errorf("HTTPStatus(%s) = %d, want %d", k, got, want)
		}
		if other, dup := seen[got]; dup {
			t.Errorf("HTTPStatus(%s) = HTTPStatus(%s) = %d: a client could not tell them apart", k, other, got)
		}
		seen[got] = k
		if back := KindOfStatus(got); back != k {
			t.Errorf("KindOfStatus(HTTPStatus(%s) = %d) = %s, want %s", k, got, back, k)
		}
		if back := KindOfStatus(want); back != k {
			t.Errorf("KindOfStatus(%d) = %s, want %s", want, back, k)
		}
		if back := KindOfCode(string(k)); back != k {
			t.Errorf("KindOfCode(%q) = %s, want %s", k, back, k)
		}
	}
}

func TestHTTPStatusOutsideTheSet(t *testing.T) {
	for _, k := range []Kind{"", "bogus", "NOT_FOUND"} {
		if got := HTTPStatus(k); got != http.StatusInternalServerError {
			t.Errorf("HTTPStatus(%q) = %d, want 500", k, got)
		}
		if got := KindOfCode(string(k)); got != Internal {
			t.Errorf("KindOfCode(%q) = %s, want internal", k, got)
		}
	}
	for status, want := range map[int]Kind{
		http.StatusUnauthorized:        FailedPrecondition,
		http.StatusOK:                  Internal,
		http.StatusTeapot:              Internal,
		http.StatusBadGateway:          Internal,
		http.StatusRequestTimeout:      Internal,
		http.StatusMethodNotAllowed:    Internal,
		http.StatusInternalServerError: Internal,
	} {
		if got := KindOfStatus(status); got != want {
			t.Errorf("KindOfStatus(%d) = %s, want %s", status, got, want)
		}
	}
}
