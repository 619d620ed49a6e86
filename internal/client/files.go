package client

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"

	"banger/internal/api"
	"banger/internal/errdefs"
)

// StatPath reports what the absolute path is in a running VM's guest,
// symlinks followed; a missing path is a not_found error.
func (c *Client) StatPath(ctx context.Context, ref, path string) (api.FileStat, error) {
	var st api.FileStat
	return st, c.do(ctx, http.MethodGet, "/vms/"+esc(ref)+"/stat?"+pathQuery(path), nil, &st)
}

// UploadFiles streams the tar stream tarStream to a running VM, whose
// guest agent extracts it under the absolute directory dir.
func (c *Client) UploadFiles(ctx context.Context, ref, dir string, tarStream io.Reader) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, "http://bangerd"+api.Version+"/vms/"+esc(ref)+"/files?"+pathQuery(dir), tarStream)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", api.TarType)
	resp, err := c.send(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return nil
}

// DownloadFiles returns a tar stream of the absolute path in a running
// VM's guest, its entries named from path's base name. Reading it returns
// an error, not io.EOF, when the guest failed part-way. ctx must stay
// alive while the stream is read.
func (c *Client) DownloadFiles(ctx context.Context, ref, path string) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://bangerd"+api.Version+"/vms/"+esc(ref)+"/files?"+pathQuery(path), nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.send(req)
	if err != nil {
		return nil, err
	}
	return &download{resp: resp, ref: ref, path: path}, nil
}

func pathQuery(p string) string { return url.Values{"path": {p}}.Encode() }

// download reports the daemon's error trailer at the end of the body.
type download struct {
	resp      *http.Response
	ref, path string
}

func (d *download) Read(p []byte) (int, error) {
	n, err := d.resp.Body.Read(p)
	if errors.Is(err, io.EOF) {
		if msg := d.resp.Trailer.Get(api.FilesErrorTrailer); msg != "" {
			return n, errdefs.Internalf("copy from %s:%s failed part-way: %s", d.ref, d.path, strings.TrimSpace(msg))
		}
	} else if err != nil {
		err = errdefs.Unavailablef("copy from %s:%s: lost the connection to bangerd: %w", d.ref, d.path, err)
	}
	return n, err
}

func (d *download) Close() error { return d.resp.Body.Close() }
