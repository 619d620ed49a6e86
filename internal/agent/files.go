package agent

import (
	"errors"
	"io/fs"
	"net/http"
	"os"
	"strings"

	"banger/internal/agent/proto"
	"banger/internal/errdefs"
)

// handleUpload extracts the tar body under the directory ?path=, creating
// it 0755 when missing.
func (h *handler) handleUpload(w http.ResponseWriter, r *http.Request) {
	dir, err := guestPath("path", r.URL.Query().Get("path"))
	if err != nil {
		writeError(w, err)
		return
	}
	limit := h.MaxUpload
	if limit <= 0 {
		limit = defaultMaxUpload
	}
	body := http.MaxBytesReader(w, r.Body, limit)
	n, err := extractTar(dir, body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			err = errdefs.InvalidArgumentf("upload to %s is larger than the agent's %d-byte limit", dir, limit)
		}
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, proto.UploadResult{Entries: n})
}

// handleDownload streams ?path= (a file, symlink or directory tree) as a
// tar whose top entry is the path's base name. An error after the stream
// has started is reported in the Banger-Error trailer.
func (h *handler) handleDownload(w http.ResponseWriter, r *http.Request) {
	p, err := guestPath("path", r.URL.Query().Get("path"))
	if err != nil {
		writeError(w, err)
		return
	}
	if _, err := os.Lstat(p); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			writeError(w, errdefs.NotFoundf("%s does not exist in the guest", p))
			return
		}
		writeError(w, errdefs.Internalf("download %s: %w", p, err))
		return
	}
	w.Header().Set("Content-Type", "application/x-tar")
	w.Header().Set("Trailer", proto.ErrorTrailer)
	w.WriteHeader(http.StatusOK)
	if err := writeTar(w, p); err != nil {
		msg := strings.NewReplacer("\r", " ", "\n", " ").Replace(err.Error())
		w.Header().Set(proto.ErrorTrailer, msg)
	}
}
