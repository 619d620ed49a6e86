package agent

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"path/filepath"

	"banger/internal/agent/proto"
	"banger/internal/errdefs"
)

func writeError(w http.ResponseWriter, err error) {
	kind := errdefs.KindOf(err)
	writeJSON(w, errdefs.HTTPStatus(kind), proto.ErrorBody{Error: proto.Error{Code: string(kind), Message: err.Error()}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// decodeJSON reads one JSON value of at most proto.MaxJSONBody bytes into
// v, refusing unknown fields and trailing data.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	body := http.MaxBytesReader(w, r.Body, proto.MaxJSONBody)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		switch {
		case errors.As(err, &tooBig):
			return errdefs.InvalidArgumentf("request body is larger than %d bytes", proto.MaxJSONBody)
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

// guestPath validates a path sent by the host: it must be absolute and is
// returned cleaned.
func guestPath(name, p string) (string, error) {
	if p == "" {
		return "", errdefs.InvalidArgumentf("%s is required: pass an absolute guest path", name)
	}
	if !filepath.IsAbs(p) {
		return "", errdefs.InvalidArgumentf("%s %q is not absolute: pass an absolute guest path", name, p)
	}
	return filepath.Clean(p), nil
}
