package oci

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"path"
	"strings"
	"testing"
)

// FuzzFlatten feeds arbitrary bytes to the flattener as two layers (the
// bytes split in two plain tars where they parse) and checks what it
// writes: every name stays inside the root, no entry lies under a symlink
// or a non-directory of the result, hard links point back to files
// already written, device nodes appear only under dev/ (never: they are
// dropped), and nothing panics.
func FuzzFlatten(f *testing.F) {
	seeds := [][]ent{
		{{name: "l", typ: tar.TypeSymlink, link: "/"}, {name: "l/etc/passwd", typ: tar.TypeReg, body: "x"}},
		{{name: "a/../../x", typ: tar.TypeReg}},
		{{name: "/abs", typ: tar.TypeReg}},
		{{name: "f", typ: tar.TypeReg, body: "f"}, {name: "hl", typ: tar.TypeLink, link: "f"}, {name: ".wh.f", typ: tar.TypeReg}},
		{{name: "d/", typ: tar.TypeDir}, {name: "d/.wh..wh..opq", typ: tar.TypeReg}, {name: "d/x", typ: tar.TypeReg}},
		{{name: "dev/null", typ: tar.TypeChar}, {name: "p", typ: tar.TypeFifo}},
	}
	for _, s := range seeds {
		f.Add(tarOf(f, s...), tarOf(f, s[len(s)-1:]...))
	}
	f.Fuzz(func(t *testing.T, a, b []byte) {
		layers := []Layer{plainLayer(a), plainLayer(b)}
		var out bytes.Buffer
		_, err := Flatten(context.Background(), layers, &out, FlattenOptions{TempDir: t.TempDir(), MaxBytes: 1 << 20, MaxEntries: 1000})
		if err != nil {
			if out.Len() != 0 {
				t.Fatalf("%d bytes written before the error %v", out.Len(), err)
			}
			return
		}
		kinds := map[string]byte{".": tar.TypeDir}
		tr := tar.NewReader(&out)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				return
			}
			if err != nil {
				t.Fatalf("the result does not read back: %v", err)
			}
			name := path.Clean(strings.TrimSuffix(h.Name, "/"))
			if name != "." && (!isLocal(name) || kinds[path.Dir(name)] != tar.TypeDir) {
				t.Fatalf("entry %q is outside the root or not under a directory written before it (%v)", h.Name, kinds[path.Dir(name)])
			}
			if _, dup := kinds[name]; dup && name != "." {
				t.Fatalf("entry %q twice", h.Name)
			}
			switch h.Typeflag {
			case tar.TypeLink:
				if kinds[h.Linkname] != tar.TypeReg && kinds[h.Linkname] != tar.TypeFifo {
					t.Fatalf("hard link %q → %q, not a file written before it", h.Name, h.Linkname)
				}
			case tar.TypeChar, tar.TypeBlock:
				t.Fatalf("device node %q in the result", h.Name)
			}
			kinds[name] = h.Typeflag
		}
	})
}

func isLocal(p string) bool {
	return p != "" && !strings.HasPrefix(p, "/") && p != ".." && !strings.HasPrefix(p, "../") && !strings.Contains(p, "/../")
}

// plainLayer is an uncompressed layer of b with its true digests.
func plainLayer(b []byte) Layer {
	d := digestOf(b)
	return Layer{Digest: d, DiffID: d, Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }}
}
