// Package errdefs defines the closed set of error kinds banger uses across
// the daemon, the API and the CLI. Services classify their errors with a
// kind; HTTPStatus and KindOfStatus are the one mapping between kinds and
// HTTP statuses, used by the daemon, the guest agent and their clients. It
// must not import any other banger package.
package errdefs

import (
	"errors"
	"fmt"
)

// Kind is a machine-readable error class. The set is closed.
type Kind string

// The error kinds. Their string values are the API's error codes.
const (
	NotFound           Kind = "not_found"
	AlreadyExists      Kind = "already_exists"
	InvalidArgument    Kind = "invalid_argument"
	FailedPrecondition Kind = "failed_precondition"
	Unavailable        Kind = "unavailable"
	Internal           Kind = "internal"
)

// Kinds lists every kind, for validation and documentation.
var Kinds = []Kind{NotFound, AlreadyExists, InvalidArgument, FailedPrecondition, Unavailable, Internal}

// Valid reports whether k is one of the defined kinds.
func (k Kind) Valid() bool {
	for _, v := range Kinds {
		if k == v {
			return true
		}
	}
	return false
}

// Error is an error classified with a Kind. Msg is what a person reads and
// should say what to do about it; when it is empty the cause's message is
// used. Err is the optional cause, kept for errors.Is and errors.As.
type Error struct {
	Kind Kind
	Msg  string
	Err  error
}

func (e *Error) Error() string {
	if e.Msg == "" && e.Err != nil {
		return e.Err.Error()
	}
	return e.Msg
}

func (e *Error) Unwrap() error { return e.Err }

// Newf returns an error of kind k with a formatted message. A %w verb in
// format wraps its argument as the cause, as with fmt.Errorf.
func Newf(k Kind, format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	return &Error{Kind: k, Msg: err.Error(), Err: errors.Unwrap(err)}
}

// Wrap classifies err as kind k, keeping its message. A nil err gives nil.
func Wrap(k Kind, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Kind: k, Err: err}
}

// KindOf returns the kind of the first classified error in err's chain, or
// Internal when none is classified. A nil error has no kind ("").
func KindOf(err error) Kind {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Internal
}

// Is reports whether err is classified as kind k.
func Is(err error, k Kind) bool { return err != nil && KindOf(err) == k }

// NotFoundf, AlreadyExistsf, … are shorthands for Newf with that kind.
func NotFoundf(format string, args ...any) error { return Newf(NotFound, format, args...) }

// AlreadyExistsf returns an AlreadyExists error.
func AlreadyExistsf(format string, args ...any) error { return Newf(AlreadyExists, format, args...) }

// InvalidArgumentf returns an InvalidArgument error.
func InvalidArgumentf(format string, args ...any) error {
	return Newf(InvalidArgument, format, args...)
}

// FailedPreconditionf returns a FailedPrecondition error.
func FailedPreconditionf(format string, args ...any) error {
	return Newf(FailedPrecondition, format, args...)
}

// Unavailablef returns an Unavailable error.
func Unavailablef(format string, args ...any) error { return Newf(Unavailable, format, args...) }

// Internalf returns an Internal error.
func Internalf(format string, args ...any) error { return Newf(Internal, format, args...) }
