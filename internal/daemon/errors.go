package daemon

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"banger/internal/api"
	"banger/internal/errdefs"
)

// maxBody bounds every request body.
const maxBody = 1 << 20

// apiError converts err to the API's error shape.
func apiError(err error, opID string) api.Error {
	return api.Error{Code: string(errdefs.KindOf(err)), Message: err.Error(), OpID: opID}
}

// writeError writes err as the API's JSON error and logs it once.
func (d *Daemon) writeError(w http.ResponseWriter, r *http.Request, err error) {
	opID := opIDFrom(r.Context())
	kind := errdefs.KindOf(err)
	d.log.Info("request failed", "op_id", opID, "code", string(kind), "err", err)
	writeJSON(w, errdefs.HTTPStatus(kind), api.ErrorBody{Error: apiError(err, opID)})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// decode reads the request body into v. The body must be exactly one JSON
// object of at most maxBody bytes, with only fields v knows: an empty body,
// null, an array or another non-object, trailing data and unknown fields
// are all invalid_argument (a null body would otherwise decode into v as
// if it were {}).
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	return decodeBody(http.MaxBytesReader(w, r.Body, maxBody), v)
}

// decodeBody is decode without the HTTP plumbing, for fuzzing.
func decodeBody(body io.Reader, v any) error {
	dec := json.NewDecoder(body)
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		var tooBig *http.MaxBytesError
		switch {
		case errors.As(err, &tooBig):
			return errdefs.InvalidArgumentf("request body is larger than %d bytes: send at most 1 MiB", maxBody)
		case errors.Is(err, io.EOF):
			return errdefs.InvalidArgumentf("request body is empty: send a JSON object")
		default:
			return errdefs.InvalidArgumentf("request body is not valid JSON: %v: send one JSON object", err)
		}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return errdefs.InvalidArgumentf("request body is larger than %d bytes: send at most 1 MiB", maxBody)
		}
		return errdefs.InvalidArgumentf("request body has data after the JSON object: send exactly one JSON object")
	}
	if raw[0] != '{' { // Decode skipped leading space; raw is one valid value
		return errdefs.InvalidArgumentf("request body is %s, not a JSON object: send a JSON object such as {}", jsonKind(raw[0]))
	}
	strict := json.NewDecoder(bytes.NewReader(raw))
	strict.DisallowUnknownFields()
	if err := strict.Decode(v); err != nil {
		return errdefs.InvalidArgumentf("request body is not valid JSON for this request: %v", err)
	}
	return nil
}

// jsonKind names the kind of JSON value that starts with c.
func jsonKind(c byte) string {
	switch c {
	case 'n':
		return "null"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	}
	return "a number"
}

// notFound answers routes that do not exist.
func (d *Daemon) notFound(w http.ResponseWriter, r *http.Request) {
	d.writeError(w, r, errdefs.NotFoundf("no API route %s %s: see docs/api.md", r.Method, r.URL.Path))
}

// methodNotAllowed answers a known path with the wrong method.
func methodNotAllowed(allowed string) error {
	return errdefs.InvalidArgumentf("method not allowed here; use %s", allowed)
}
