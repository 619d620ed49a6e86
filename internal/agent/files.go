package agent

import (
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"banger/internal/agent/proto"
	"banger/internal/errdefs"
	"banger/internal/tarstream"
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
	if err := os.MkdirAll(dir, 0o755); err != nil {
		writeError(w, errdefs.FailedPreconditionf("create upload directory: %w", err))
		return
	}
	body := http.MaxBytesReader(w, r.Body, limit)
	n, err := tarstream.Extract(dir, body, tarstream.Options{KeepOwner: true})
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
	top := filepath.Base(p)
	if p == "/" {
		top = "."
	}
	if err := tarstream.Write(w, p, top, nil); err != nil {
		msg := strings.NewReplacer("\r", " ", "\n", " ").Replace(err.Error())
		w.Header().Set(proto.ErrorTrailer, msg)
	}
}

// handleStat reports what ?path= is, following symlinks, so the host can
// decide where a copy goes (into a directory, over a file, or new).
func (h *handler) handleStat(w http.ResponseWriter, r *http.Request) {
	p, err := guestPath("path", r.URL.Query().Get("path"))
	if err != nil {
		writeError(w, err)
		return
	}
	st, err := os.Stat(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			writeError(w, errdefs.NotFoundf("%s does not exist in the guest", p))
			return
		}
		writeError(w, errdefs.Internalf("stat %s: %w", p, err))
		return
	}
	writeJSON(w, http.StatusOK, proto.Stat{Path: p, Dir: st.IsDir(), Mode: uint32(st.Mode()), Size: st.Size(), ModTime: st.ModTime()})
}
