package client

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"banger/internal/api"
	"banger/internal/errdefs"
)

// TestDownloadTrailer: a download the daemon reports as failed part-way
// (in its trailer) ends in an error, not in a clean EOF that would pass
// a truncated archive off as whole.
func TestDownloadTrailer(t *testing.T) {
	c := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("path") != "/root/a b" {
			writeError(w, 400, "invalid_argument", "bad path "+r.URL.Query().Get("path"), "")
			return
		}
		w.Header().Set("Trailer", api.FilesErrorTrailer)
		io.WriteString(w, "partial")
		if r.URL.Path == "/v1/vms/bad/files" {
			w.Header().Set(api.FilesErrorTrailer, "read /root/a b: input/output error")
		}
	}))
	ctx := context.Background()
	for _, tt := range []struct {
		vm   string
		want errdefs.Kind
	}{{"good", ""}, {"bad", errdefs.Internal}} {
		rc, err := c.DownloadFiles(ctx, tt.vm, "/root/a b")
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if string(data) != "partial" || errdefs.KindOf(err) != tt.want && (err != nil || tt.want != "") {
			t.Errorf("%s: read %q, %v; want kind %q", tt.vm, data, err, tt.want)
		}
		if tt.want != "" && !strings.Contains(err.Error(), "input/output error") {
			t.Errorf("%s: error %v does not carry the trailer's message", tt.vm, err)
		}
	}
}

// TestUploadStreams: the upload body reaches the daemon as a tar stream.
func TestUploadStreams(t *testing.T) {
	got := make(chan string, 1)
	c := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- r.Method + " " + r.URL.Path + "?" + r.URL.RawQuery + " " + r.Header.Get("Content-Type") + " " + string(b)
		w.WriteHeader(http.StatusNoContent)
	}))
	if err := c.UploadFiles(context.Background(), "g", "/root/dir", strings.NewReader("tar bytes")); err != nil {
		t.Fatal(err)
	}
	if g, want := <-got, "PUT /v1/vms/g/files?path=%2Froot%2Fdir application/x-tar tar bytes"; g != want {
		t.Errorf("daemon got %q, want %q", g, want)
	}
}
