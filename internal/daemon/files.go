package daemon

import (
	"io"
	"net/http"
	"path"
	"strings"

	"banger/internal/api"
	"banger/internal/errdefs"
)

// guestPathParam is the ?path= of a files route: required and absolute.
func guestPathParam(r *http.Request) (string, error) {
	p := r.URL.Query().Get("path")
	if p == "" {
		return "", errdefs.InvalidArgumentf("path is required: pass ?path= with an absolute guest path")
	}
	if !strings.HasPrefix(p, "/") {
		return "", errdefs.InvalidArgumentf("path %q is not absolute: pass an absolute guest path", p)
	}
	return path.Clean(p), nil
}

// statFile reports what a guest path is.
func (d *Daemon) statFile(w http.ResponseWriter, r *http.Request) {
	p, err := guestPathParam(r)
	if err != nil {
		d.writeError(w, r, err)
		return
	}
	st, err := d.vms.Stat(r.Context(), r.PathValue("ref"), p)
	if err != nil {
		d.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, api.FileStat{Path: st.Path, Dir: st.Dir, Mode: st.Mode, Size: st.Size, ModTime: st.ModTime})
}

// uploadFiles streams the tar body to the guest agent, which extracts it
// under ?path=. The body is not read up front (readBody lets this route
// through): each read of it must arrive within the body timeout, so a
// client that stalls is cut off while one that keeps sending may send
// for as long as the copy takes.
func (d *Daemon) uploadFiles(w http.ResponseWriter, r *http.Request) {
	p, err := guestPathParam(r)
	if err != nil {
		d.writeError(w, r, err)
		return
	}
	ctx, cancel := d.streamContext(r)
	defer cancel()
	if err := d.vms.Upload(ctx, r.PathValue("ref"), p, r.Body); err != nil {
		d.refuseStream(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// downloadFiles streams a tar of ?path= from the guest agent. An error
// after the first byte is reported in the api.FilesErrorTrailer trailer.
func (d *Daemon) downloadFiles(w http.ResponseWriter, r *http.Request) {
	p, err := guestPathParam(r)
	if err != nil {
		d.writeError(w, r, err)
		return
	}
	ctx, cancel := d.streamContext(r)
	defer cancel()
	tarStream, err := d.vms.Download(ctx, r.PathValue("ref"), p)
	if err != nil {
		d.writeError(w, r, err)
		return
	}
	defer tarStream.Close()
	w.Header().Set("Content-Type", api.TarType)
	w.Header().Set("Trailer", api.FilesErrorTrailer)
	w.WriteHeader(http.StatusOK)
	if _, err := io.Copy(w, tarStream); err != nil {
		msg := strings.NewReplacer("\r", " ", "\n", " ").Replace(err.Error())
		w.Header().Set(api.FilesErrorTrailer, msg)
		d.log.Info("download failed part-way", "op_id", opIDFrom(r.Context()), "vm", r.PathValue("ref"), "err", err)
	}
}
