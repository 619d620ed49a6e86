package errdefs

import (
	"errors"
	"fmt"
	"io/fs"
	"testing"
)

func TestNewf(t *testing.T) {
	cause := fs.ErrNotExist
	tests := []struct {
		name      string
		err       error
		wantKind  Kind
		wantMsg   string
		wantCause error // what Unwrap returns
	}{
		{
			name:     "plain message",
			err:      Newf(NotFound, "no VM named %q", "x"),
			wantKind: NotFound,
			wantMsg:  `no VM named "x"`,
		},
		{
			name:      "wraps with %w",
			err:       Newf(FailedPrecondition, "open %s: %w: create it first", "/state", cause),
			wantKind:  FailedPrecondition,
			wantMsg:   "open /state: file does not exist: create it first",
			wantCause: cause,
		},
		{
			name:     "%v does not wrap",
			err:      Newf(Unavailable, "dial: %v", cause),
			wantKind: Unavailable,
			wantMsg:  "dial: file does not exist",
		},
		{name: "NotFoundf", err: NotFoundf("a %d", 1), wantKind: NotFound, wantMsg: "a 1"},
		{name: "AlreadyExistsf", err: AlreadyExistsf("b"), wantKind: AlreadyExists, wantMsg: "b"},
		{name: "InvalidArgumentf", err: InvalidArgumentf("c"), wantKind: InvalidArgument, wantMsg: "c"},
		{name: "FailedPreconditionf", err: FailedPreconditionf("d"), wantKind: FailedPrecondition, wantMsg: "d"},
		{name: "Unavailablef", err: Unavailablef("e: %w", cause), wantKind: Unavailable, wantMsg: "e: file does not exist", wantCause: cause},
		{name: "Internalf", err: Internalf("f"), wantKind: Internal, wantMsg: "f"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.wantMsg {
				t.Errorf("Error() = %q, want %q", got, tt.wantMsg)
			}
			if got := KindOf(tt.err); got != tt.wantKind {
				t.Errorf("KindOf = %q, want %q", got, tt.wantKind)
			}
			if got := errors.Unwrap(tt.err); got != tt.wantCause {
				t.Errorf("Unwrap = %v, want %v", got, tt.wantCause)
			}
			if got, want := errors.Is(tt.err, cause), tt.wantCause != nil; got != want {
				t.Errorf("errors.Is(err, cause) = %v, want %v", got, want)
			}
			if !Is(tt.err, tt.wantKind) {
				t.Errorf("Is(err, %q) = false, want true", tt.wantKind)
			}
		})
	}
}

func TestWrap(t *testing.T) {
	if got := Wrap(NotFound, nil); got != nil {
		t.Errorf("Wrap(NotFound, nil) = %v, want nil", got)
	}
	cause := errors.New("disk full")
	err := Wrap(Unavailable, cause)
	if got, want := err.Error(), "disk full"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if got, want := KindOf(err), Unavailable; got != want {
		t.Errorf("KindOf = %q, want %q", got, want)
	}
	if !errors.Is(err, cause) {
		t.Errorf("errors.Is(Wrap(k, cause), cause) = false, want true")
	}
	// An explicit message wins over the cause's.
	e := &Error{Kind: Internal, Msg: "explained", Err: cause}
	if got, want := e.Error(), "explained"; got != want {
		t.Errorf("Error() with Msg = %q, want %q", got, want)
	}
}

func TestKindOf(t *testing.T) {
	notFound := NotFoundf("no image named %q", "x")
	tests := []struct {
		name string
		err  error
		want Kind
	}{
		{"nil", nil, ""},
		{"unclassified", errors.New("boom"), Internal},
		{"unclassified wrapped", fmt.Errorf("a: %w", fs.ErrNotExist), Internal},
		{"direct", notFound, NotFound},
		{"one fmt.Errorf", fmt.Errorf("get image: %w", notFound), NotFound},
		{"two fmt.Errorf", fmt.Errorf("create vm: %w", fmt.Errorf("get image: %w", notFound)), NotFound},
		{"Wrap of classified keeps the outer kind", Wrap(Unavailable, notFound), Unavailable},
		{"fmt.Errorf with %v loses the kind", fmt.Errorf("get image: %v", notFound), Internal},
		{"errors.Join first classified", errors.Join(errors.New("x"), InvalidArgumentf("bad"), notFound), InvalidArgument},
		{"errors.Join inside fmt.Errorf", fmt.Errorf("register: %w", errors.Join(errors.New("x"), AlreadyExistsf("taken"))), AlreadyExists},
		{"errors.Join unclassified", errors.Join(errors.New("x"), errors.New("y")), Internal},
		{"multiple %w", fmt.Errorf("%w and %w", errors.New("x"), FailedPreconditionf("busy")), FailedPrecondition},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := KindOf(tt.err); got != tt.want {
				t.Errorf("KindOf(%v) = %q, want %q", tt.err, got, tt.want)
			}
		})
	}
}

func TestIs(t *testing.T) {
	tests := []struct {
		name string
		err  error
		kind Kind
		want bool
	}{
		{"nil is no kind", nil, Internal, false},
		{"nil is not empty kind", nil, "", false},
		{"match", NotFoundf("x"), NotFound, true},
		{"mismatch", NotFoundf("x"), AlreadyExists, false},
		{"unclassified is internal", errors.New("x"), Internal, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Is(tt.err, tt.kind); got != tt.want {
				t.Errorf("Is(%v, %q) = %v, want %v", tt.err, tt.kind, got, tt.want)
			}
		})
	}
}

func TestKindValid(t *testing.T) {
	for _, k := range Kinds {
		if !k.Valid() {
			t.Errorf("Kind(%q).Valid() = false, want true", k)
		}
	}
	if got, want := len(Kinds), 6; got != want {
		t.Errorf("len(Kinds) = %d, want %d", got, want)
	}
	for _, k := range []Kind{"", "NotFound", "not-found", "unknown", "not_found "} {
		if k.Valid() {
			t.Errorf("Kind(%q).Valid() = true, want false", k)
		}
	}
}
