package tarstream

import (
	"archive/tar"
	"bytes"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"banger/internal/testtier"
)

type ent struct {
	name string
	typ  byte
	mode int64
	link string
	body string
}

func archive(t *testing.T, es ...ent) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range es {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: e.mode, Linkname: e.link, ModTime: time.Unix(1_600_000_000, 0)}
		if e.typ == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		io.WriteString(tw, e.body)
	}
	tw.Close()
	return buf.Bytes()
}

// TestSetIDBitsDropped: without KeepOwner an archive cannot leave a
// set-uid or set-gid file behind (it would belong to whoever extracts
// it, root included); with it, the bits are kept.
func TestSetIDBitsDropped(t *testing.T) {
	a := archive(t, ent{name: "suid", typ: tar.TypeReg, mode: 0o4755, body: "x"}, ent{name: "sgid", typ: tar.TypeReg, mode: 0o2755, body: "x"})
	dir := t.TempDir()
	if _, err := Extract(dir, bytes.NewReader(a), Options{}); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"suid", "sgid"} {
		st, err := os.Stat(filepath.Join(dir, n))
		if err != nil || st.Mode() != 0o755 {
			t.Errorf("%s: mode %v, %v; want 0755 without set-id bits", n, st.Mode(), err)
		}
	}
}

// TestKeepOwner: with KeepOwner (the agent, as root) owners and set-id
// bits are kept.
func TestKeepOwner(t *testing.T) {
	testtier.Root(t)
	a := archive(t, ent{name: "suid", typ: tar.TypeReg, mode: 0o4755, body: "x"})
	dir := t.TempDir()
	if _, err := Extract(dir, bytes.NewReader(a), Options{KeepOwner: true}); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(filepath.Join(dir, "suid")); st.Mode()&fs.ModeSetuid == 0 {
		t.Errorf("KeepOwner dropped the set-uid bit: %v", st.Mode())
	}
}

// TestRename: From and To rename the top entry, strip it (To "."), and
// refuse entries that are not under From.
func TestRename(t *testing.T) {
	a := archive(t, ent{name: "top/", typ: tar.TypeDir, mode: 0o755}, ent{name: "top/f", typ: tar.TypeReg, mode: 0o644, body: "f"},
		ent{name: "top/hl", typ: tar.TypeLink, link: "top/f"})
	for _, tt := range []struct {
		to   string
		want []string
	}{
		{"new", []string{"new", "new/f", "new/hl"}},
		{".", []string{"f", "hl"}},
	} {
		dir := t.TempDir()
		if _, err := Extract(dir, bytes.NewReader(a), Options{From: "top", To: tt.to}); err != nil {
			t.Fatalf("To %q: %v", tt.to, err)
		}
		var got []string
		filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if rel, _ := filepath.Rel(dir, p); rel != "." {
				got = append(got, rel)
			}
			return nil
		})
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("To %q (-want +got):\n%s", tt.to, diff)
		}
	}
	bad := archive(t, ent{name: "top/", typ: tar.TypeDir, mode: 0o755}, ent{name: "other", typ: tar.TypeReg, body: "x"})
	if _, err := Extract(t.TempDir(), bytes.NewReader(bad), Options{From: "top", To: "top"}); err == nil || !strings.Contains(err.Error(), "not under") {
		t.Errorf("an entry outside From was accepted: %v", err)
	}
}

// TestDirOverFile: a directory entry where a file or symlink exists is
// refused instead of following or deleting it.
func TestDirOverFile(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "f"), []byte("keep"), 0o644)
	os.Symlink("/", filepath.Join(dir, "l"))
	for _, name := range []string{"f/", "l/"} {
		_, err := Extract(dir, bytes.NewReader(archive(t, ent{name: name, typ: tar.TypeDir, mode: 0o755})), Options{})
		if err == nil {
			t.Errorf("directory entry %s over a non-directory was accepted", name)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "f")); string(b) != "keep" {
		t.Errorf("f = %q", b)
	}
}

// TestCheck: Check passes a good archive on, renamed, and stops at the
// first entry Extract would refuse.
func TestCheck(t *testing.T) {
	a := archive(t, ent{name: "top/", typ: tar.TypeDir, mode: 0o755}, ent{name: "top/f", typ: tar.TypeReg, mode: 0o644, body: "f"})
	var out bytes.Buffer
	n, err := Check(bytes.NewReader(a), &out, Options{From: "top", To: "new"})
	if err != nil || n != 2 {
		t.Fatalf("Check = %d, %v", n, err)
	}
	var names []string
	tr := tar.NewReader(&out)
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		names = append(names, h.Name)
	}
	if want := []string{"new/", "new/f"}; !cmp.Equal(names, want) {
		t.Errorf("checked names = %v, want %v", names, want)
	}
	for _, bad := range [][]byte{
		archive(t, ent{name: "../x", typ: tar.TypeReg}),
		archive(t, ent{name: "x", typ: tar.TypeChar}),
		archive(t, ent{name: "x", typ: tar.TypeLink, link: "/etc/shadow"}),
	} {
		if _, err := Check(bytes.NewReader(bad), io.Discard, Options{}); err == nil {
			t.Errorf("Check accepted a hostile archive")
		}
	}
}
