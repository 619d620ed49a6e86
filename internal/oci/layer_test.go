package oci

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// ent is one tar entry of a test layer.
type ent struct {
	name  string
	typ   byte
	mode  int64
	link  string
	body  string
	uid   int
	gid   int
	pax   map[string]string
	mtime time.Time
}

var epoch = time.Unix(1_600_000_000, 0).UTC()

// tarOf writes es as an uncompressed tar.
func tarOf(t testing.TB, es ...ent) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range es {
		mt := e.mtime
		if mt.IsZero() {
			mt = epoch
		}
		mode := e.mode
		if mode == 0 {
			mode = 0o644
		}
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: mode, Linkname: e.link, ModTime: mt, Uid: e.uid, Gid: e.gid,
			PAXRecords: e.pax, Devmajor: 1, Devminor: 3}
		if e.typ == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if len(e.pax) > 0 {
			h.Format = tar.FormatPAX
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		io.WriteString(tw, e.body)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gzipOf(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

func digestOf(b []byte) string { return fmt.Sprintf("sha256:%x", sha256.Sum256(b)) }

// memLayer is a gzip layer held in memory.
func memLayer(t testing.TB, es ...ent) Layer {
	t.Helper()
	plain := tarOf(t, es...)
	blob := gzipOf(t, plain)
	return Layer{Digest: digestOf(blob), DiffID: digestOf(plain), Open: func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(blob)), nil
	}}
}

// listing is one entry of a flattened tar, as the tests compare it.
type listing struct {
	Name  string
	Type  byte
	Mode  int64
	UID   int
	GID   int
	Link  string
	Body  string
	MTime int64
	PAX   map[string]string
}

func readListing(t testing.TB, b []byte) []listing {
	t.Helper()
	var out []listing
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(tr)
		var pax map[string]string
		for k, v := range h.PAXRecords {
			if len(k) > len(xattrPrefix) && k[:len(xattrPrefix)] == xattrPrefix {
				if pax == nil {
					pax = map[string]string{}
				}
				pax[k] = v
			}
		}
		out = append(out, listing{h.Name, h.Typeflag, h.Mode, h.Uid, h.Gid, h.Linkname, string(body), h.ModTime.Unix(), pax})
	}
}

func zstdOf(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, err := zstd.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}
