package daemon

import (
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

// decode reads one JSON value of at most maxBody bytes into v, refusing
// unknown fields and trailing data.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	body := http.MaxBytesReader(w, r.Body, maxBody)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		switch {
		case errors.As(err, &tooBig):
			return errdefs.InvalidArgumentf("request body is larger than %d bytes", maxBody)
		case errors.Is(err, io.EOF):
			return errdefs.InvalidArgumentf("request body is empty: send a JSON object")
		default:
			return errdefs.InvalidArgumentf("request body is not valid JSON for this request: %v", err)
		}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errdefs.InvalidArgumentf("request body has data after the JSON object")
	}
	return nil
}

// notFound answers routes that do not exist.
func (d *Daemon) notFound(w http.ResponseWriter, r *http.Request) {
	d.writeError(w, r, errdefs.NotFoundf("no API route %s %s: see docs/api.md", r.Method, r.URL.Path))
}

// methodNotAllowed answers a known path with the wrong method.
func methodNotAllowed(allowed string) error {
	return errdefs.InvalidArgumentf("method not allowed here; use %s", allowed)
}
