package oci

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"banger/internal/errdefs"
)

func flatten(t *testing.T, o FlattenOptions, layers ...Layer) ([]byte, FlattenStats, error) {
	t.Helper()
	if o.TempDir == "" {
		o.TempDir = t.TempDir()
	}
	var out bytes.Buffer
	st, err := Flatten(context.Background(), layers, &out, o)
	return out.Bytes(), st, err
}

// TestFlattenMerges: layers apply oldest first with whiteouts, opaque
// directories, replaced files and symlinks, hard links (emitted once, then
// as links to the first path), and owners, set-id bits, times and xattrs
// (security.capability included) survive.
func TestFlattenMerges(t *testing.T) {
	late := epoch.Add(3600e9)
	capXattr := map[string]string{"SCHILY.xattr.security.capability": "\x01\x00\x00\x02\x00\x20\x00\x00"}
	l1 := memLayer(t,
		ent{name: "./", typ: tar.TypeDir, mode: 0o755},
		ent{name: "bin/", typ: tar.TypeDir, mode: 0o755},
		ent{name: "bin/ping", typ: tar.TypeReg, mode: 0o755, body: "ping", pax: capXattr},
		ent{name: "bin/su", typ: tar.TypeReg, mode: 0o4755, body: "su"},
		ent{name: "bin/sulink", typ: tar.TypeLink, link: "bin/su"},
		ent{name: "etc/gone", typ: tar.TypeReg, body: "gone"},
		ent{name: "etc/keep", typ: tar.TypeReg, body: "keep", uid: 1000, gid: 1001},
		ent{name: "opq/old", typ: tar.TypeReg, body: "old"},
		ent{name: "opq/sub/old", typ: tar.TypeReg, body: "old"},
		ent{name: "dev/null", typ: tar.TypeChar, mode: 0o666},
		ent{name: "fifo", typ: tar.TypeFifo, mode: 0o600},
		ent{name: "link", typ: tar.TypeSymlink, link: "/etc/keep"},
	)
	l2 := memLayer(t,
		ent{name: "etc/.wh.gone", typ: tar.TypeReg},
		ent{name: "opq/sub/new", typ: tar.TypeReg, body: "new"},
		ent{name: "opq/.wh..wh..opq", typ: tar.TypeReg},
		ent{name: "bin/su", typ: tar.TypeReg, mode: 0o2750, body: "su2", gid: 42, mtime: late},
		ent{name: "link", typ: tar.TypeReg, body: "now a file"},
	)
	out, st, err := flatten(t, FlattenOptions{}, l1, l2)
	if err != nil {
		t.Fatal(err)
	}
	want := []listing{
		{Name: "./", Type: tar.TypeDir, Mode: 0o755, MTime: epoch.Unix()},
		{Name: "bin/", Type: tar.TypeDir, Mode: 0o755, MTime: epoch.Unix()},
		{Name: "bin/ping", Type: tar.TypeReg, Mode: 0o755, Body: "ping", MTime: epoch.Unix(), PAX: capXattr},
		{Name: "bin/su", Type: tar.TypeReg, Mode: 0o2750, GID: 42, Body: "su2", MTime: late.Unix()},
		{Name: "bin/sulink", Type: tar.TypeReg, Mode: 0o4755, Body: "su", MTime: epoch.Unix()},
		{Name: "dev/", Type: tar.TypeDir, Mode: 0o755, MTime: epoch.Unix()},
		{Name: "etc/", Type: tar.TypeDir, Mode: 0o755, MTime: epoch.Unix()},
		{Name: "etc/keep", Type: tar.TypeReg, Mode: 0o644, UID: 1000, GID: 1001, Body: "keep", MTime: epoch.Unix()},
		{Name: "fifo", Type: tar.TypeFifo, Mode: 0o600, MTime: epoch.Unix()},
		{Name: "link", Type: tar.TypeReg, Mode: 0o644, Body: "now a file", MTime: epoch.Unix()},
		{Name: "opq/", Type: tar.TypeDir, Mode: 0o755, MTime: epoch.Unix()},
		{Name: "opq/sub/", Type: tar.TypeDir, Mode: 0o755, MTime: epoch.Unix()},
		{Name: "opq/sub/new", Type: tar.TypeReg, Mode: 0o644, Body: "new", MTime: epoch.Unix()},
	}
	if diff := cmp.Diff(want, readListing(t, out)); diff != "" {
		t.Errorf("flattened tree (-want +got):\n%s", diff)
	}
	if st.DroppedDevices != 1 || st.Entries != len(want) {
		t.Errorf("stats = %+v, want 1 dropped device and %d entries", st, len(want))
	}
}

// TestFlattenHardLinkGroup: hard links to one file stay one file, written
// once, even when the first name sorts after the link.
func TestFlattenHardLinkGroup(t *testing.T) {
	l := memLayer(t,
		ent{name: "z", typ: tar.TypeReg, mode: 0o755, body: "body"},
		ent{name: "a", typ: tar.TypeLink, link: "z"},
		ent{name: "m", typ: tar.TypeLink, link: "./z"},
	)
	out, _, err := flatten(t, FlattenOptions{}, l)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range readListing(t, out) {
		got = append(got, e.Name+" "+string(e.Type)+" "+e.Link+" "+e.Body)
	}
	want := []string{"./ 5  ", "a 0  body", "m 1 a ", "z 1 a "}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestFlattenRefuses: every hostile layer is refused with an
// invalid_argument error naming the layer's digest and the entry, and
// nothing is written and no spool is left.
func TestFlattenRefuses(t *testing.T) {
	base := memLayer(t,
		ent{name: "etc/", typ: tar.TypeDir, mode: 0o755},
		ent{name: "etc/passwd", typ: tar.TypeReg, body: "root"},
		ent{name: "up", typ: tar.TypeSymlink, link: "../../../../"},
		ent{name: "abs", typ: tar.TypeSymlink, link: "/etc"},
	)
	for _, tt := range []struct {
		name  string
		lower []Layer // before the hostile layer
		es    []ent
		entry string
		why   string
		opts  FlattenOptions
	}{
		{name: "traversal", es: []ent{{name: "a/../../etc/x", typ: tar.TypeReg}}, entry: "a/../../etc/x", why: `".."`},
		{name: "absolute", es: []ent{{name: "/etc/x", typ: tar.TypeReg}}, entry: "/etc/x", why: "absolute"},
		{name: "symlink escape across layers", lower: []Layer{base}, es: []ent{{name: "up/etc/shadow", typ: tar.TypeReg, body: "x"}},
			entry: "up/etc/shadow", why: "symlink up"},
		{name: "absolute symlink write-through", lower: []Layer{base}, es: []ent{{name: "abs/passwd", typ: tar.TypeReg, body: "x"}},
			entry: "abs/passwd", why: "symlink abs"},
		{name: "symlink then write-through in one layer", es: []ent{{name: "l", typ: tar.TypeSymlink, link: "/"}, {name: "l/x", typ: tar.TypeReg}},
			entry: "l/x", why: "symlink l"},
		{name: "symlink then directory under it", es: []ent{{name: "l", typ: tar.TypeSymlink, link: "/tmp"}, {name: "l/d/", typ: tar.TypeDir}},
			entry: "l/d/", why: "symlink l"},
		{name: "hard link out", es: []ent{{name: "hl", typ: tar.TypeLink, link: "../../etc/shadow"}}, entry: "hl", why: `".."`},
		{name: "absolute hard link", es: []ent{{name: "hl", typ: tar.TypeLink, link: "/etc/shadow"}}, entry: "hl", why: "not a relative path"},
		{name: "hard link through a symlink", lower: []Layer{base}, es: []ent{{name: "hl", typ: tar.TypeLink, link: "abs/passwd"}},
			entry: "hl", why: "symlink abs"},
		{name: "hard link to nothing", es: []ent{{name: "hl", typ: tar.TypeLink, link: "nope"}}, entry: "hl", why: "not in the image"},
		{name: "hard link to a directory", lower: []Layer{base}, es: []ent{{name: "hl", typ: tar.TypeLink, link: "etc"}}, entry: "hl", why: "not a regular file"},
		{name: "whiteout of ..", es: []ent{{name: "etc/.wh..", typ: tar.TypeReg}}, entry: "etc/.wh..", why: "whites out"},
		{name: "whiteout of . at the top", es: []ent{{name: ".wh..", typ: tar.TypeReg}}, entry: ".wh..", why: "whites out"},
		{name: "whiteout through a symlink", lower: []Layer{base}, es: []ent{{name: "abs/.wh.passwd", typ: tar.TypeReg}}, entry: "abs/.wh.passwd", why: "symlink abs"},
		{name: "device node outside dev", es: []ent{{name: "etc/mem", typ: tar.TypeChar}}, entry: "etc/mem", why: "device node"},
		{name: "block device at the top", es: []ent{{name: "sda", typ: tar.TypeBlock}}, entry: "sda", why: "device node"},
		{name: "duplicate entries", es: []ent{{name: "x", typ: tar.TypeReg, body: "a"}, {name: "./x", typ: tar.TypeReg, body: "b"}}, entry: "./x", why: "twice"},
		{name: "file under a file", lower: []Layer{base}, es: []ent{{name: "etc/passwd/x", typ: tar.TypeReg}}, entry: "etc/passwd/x", why: "not a directory"},
		{name: "root as a file", es: []ent{{name: ".", typ: tar.TypeReg}}, entry: ".", why: "root"},
		{name: "huge entry", es: []ent{{name: "big", typ: tar.TypeReg, body: strings.Repeat("x", 2000)}}, entry: "big", why: "limit",
			opts: FlattenOptions{MaxBytes: 1000}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			bad := memLayer(t, tt.es...)
			tmp := t.TempDir()
			tt.opts.TempDir = tmp
			out, _, err := flatten(t, tt.opts, append(tt.lower, bad)...)
			if err == nil {
				t.Fatal("accepted")
			}
			if !errdefs.Is(err, errdefs.InvalidArgument) {
				t.Errorf("kind %s, want invalid_argument: %v", errdefs.KindOf(err), err)
			}
			for _, s := range []string{bad.Digest, `"` + tt.entry + `"`, tt.why, "refused"} {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not say %q", err, s)
				}
			}
			if len(out) != 0 {
				t.Errorf("%d bytes written before the refusal", len(out))
			}
			if left, _ := os.ReadDir(tmp); len(left) != 0 {
				t.Errorf("left in the temporary directory: %v", left)
			}
		})
	}
}

// TestFlattenDigests: a blob whose sha256 or uncompressed sha256 does not
// match the layer's digests is refused, naming the layer.
func TestFlattenDigests(t *testing.T) {
	good := memLayer(t, ent{name: "f", typ: tar.TypeReg, body: "f"})
	wrongBlob := good
	wrongBlob.Digest = digestOf([]byte("something else"))
	wrongDiff := good
	wrongDiff.DiffID = digestOf([]byte("something else"))
	for name, l := range map[string]Layer{"blob": wrongBlob, "diff id": wrongDiff} {
		out, _, err := flatten(t, FlattenOptions{}, l)
		if err == nil || !strings.Contains(err.Error(), l.Digest) || len(out) != 0 {
			t.Errorf("wrong %s: err %v, %d bytes out", name, err, len(out))
		}
	}
	if _, _, err := flatten(t, FlattenOptions{}, good); err != nil {
		t.Errorf("good layer: %v", err)
	}
}

// TestFlattenPlainAndZstd: uncompressed and zstd layers are read too.
func TestFlattenPlainAndZstd(t *testing.T) {
	plain := tarOf(t, ent{name: "p", typ: tar.TypeReg, body: "plain"})
	l := Layer{Digest: digestOf(plain), DiffID: digestOf(plain), Open: func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(plain)), nil
	}}
	z := zstdOf(t, tarOf(t, ent{name: "z", typ: tar.TypeReg, body: "zstd"}))
	zl := Layer{Digest: digestOf(z), DiffID: digestOf(tarOf(t, ent{name: "z", typ: tar.TypeReg, body: "zstd"})), Open: func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(z)), nil
	}}
	out, _, err := flatten(t, FlattenOptions{}, l, zl)
	if err != nil {
		t.Fatal(err)
	}
	if got := readListing(t, out); len(got) != 3 || got[1].Body != "plain" || got[2].Body != "zstd" {
		t.Errorf("got %+v", got)
	}
}

// TestFlattenCancel: a cancelled context stops the flattening.
func TestFlattenCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out bytes.Buffer
	_, err := Flatten(ctx, []Layer{memLayer(t, ent{name: "f", typ: tar.TypeReg})}, &out, FlattenOptions{TempDir: t.TempDir()})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}
