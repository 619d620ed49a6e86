package errdefs

import "net/http"

// statuses is the one table of error kinds and the HTTP statuses that
// carry them, for the daemon's API and the guest agent's alike (the
// table in docs/api.md). HTTPStatus and KindOfStatus are its two
// directions; nothing else maps kinds to statuses.
var statuses = []struct {
	kind   Kind
	status int
}{
	{NotFound, http.StatusNotFound},
	{AlreadyExists, http.StatusConflict},
	{InvalidArgument, http.StatusBadRequest},
	{FailedPrecondition, http.StatusPreconditionFailed},
	{Unavailable, http.StatusServiceUnavailable},
	{Internal, http.StatusInternalServerError},
}

// HTTPStatus returns the HTTP status a server answers an error of kind k
// with. A kind outside the set is Internal's.
func HTTPStatus(k Kind) int {
	for _, s := range statuses {
		if s.kind == k {
			return s.status
		}
	}
	return http.StatusInternalServerError
}

// KindOfStatus returns the kind a client gives an error reply that has
// no error code of its own (a proxy's or a bare reply): the inverse of
// HTTPStatus. 401 Unauthorized (the agent refusing a token) is
// FailedPrecondition; any other status is Internal.
func KindOfStatus(status int) Kind {
	for _, s := range statuses {
		if s.status == status {
			return s.kind
		}
	}
	if status == http.StatusUnauthorized {
		return FailedPrecondition
	}
	return Internal
}

// KindOfCode returns the kind an error code on the wire names (the
// Kind's string value); a code outside the set is Internal.
func KindOfCode(code string) Kind {
	if k := Kind(code); k.Valid() {
		return k
	}
	return Internal
}
