package agent_test

import (
	"archive/tar"
	"bytes"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"banger/internal/agent/proto"
	"banger/internal/errdefs"
	"banger/internal/testtier"
)

// entry is one tar entry to build, or one file found on disk.
type entry struct {
	Name     string
	Type     byte
	Mode     int64
	Body     string
	Link     string
	UID, GID int
}

func buildTar(t *testing.T, entries []entry) *bytes.Buffer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mtime := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	for _, e := range entries {
		hdr := &tar.Header{Name: e.Name, Typeflag: e.Type, Mode: e.Mode, Linkname: e.Link,
			Uid: e.UID, Gid: e.GID, ModTime: mtime, Size: int64(len(e.Body)), Format: tar.FormatPAX}
		if e.Type != tar.TypeReg {
			hdr.Size = 0
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if hdr.Size > 0 {
			tw.Write([]byte(e.Body))
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return &buf
}

// readTree describes every file under dir, relative names, sorted by walk.
func readTree(t *testing.T, dir string) []entry {
	t.Helper()
	var out []entry
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		st := info.Sys().(*syscall.Stat_t)
		e := entry{Name: rel, Mode: int64(st.Mode & 0o7777), UID: int(st.Uid), GID: int(st.Gid)}
		switch {
		case info.IsDir():
			e.Type = tar.TypeDir
		case info.Mode()&fs.ModeSymlink != 0:
			e.Type = tar.TypeSymlink
			e.Link, _ = os.Readlink(p)
			e.Mode = 0
		default:
			e.Type = tar.TypeReg
			b, _ := os.ReadFile(p)
			e.Body = string(b)
		}
		out = append(out, e)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestUploadAndDownload(t *testing.T) {
	testtier.Root(t) // the agent runs as root: uploads keep the tar's owners
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			srv, _ := newServer(t)
			c := tr.serve(t, srv, token)
			ctx := testCtx(t)
			dest := filepath.Join(t.TempDir(), "new", "dest")
			upload := []entry{
				{Name: "dir/", Type: tar.TypeDir, Mode: 0o750, UID: 1000, GID: 1000},
				{Name: "dir/script.sh", Type: tar.TypeReg, Mode: 0o755, Body: "#!/bin/sh\necho hi\n", UID: 1000, GID: 100},
				{Name: "dir/secret", Type: tar.TypeReg, Mode: 0o600, Body: "s3cret"},
				{Name: "dir/setuid", Type: tar.TypeReg, Mode: 0o4755, Body: "x"},
				{Name: "dir/link", Type: tar.TypeSymlink, Link: "script.sh"},
				{Name: "dir/abs-link", Type: tar.TypeSymlink, Link: "/etc/passwd"},
				{Name: "implicit/parent/file", Type: tar.TypeReg, Mode: 0o644, Body: "deep"},
			}
			if err := c.Upload(ctx, dest, buildTar(t, upload)); err != nil {
				t.Fatal(err)
			}
			st, err := os.Stat(dest)
			if err != nil || st.Mode().Perm() != 0o755 {
				t.Fatalf("upload dir: %v, mode %v; want it created 0755", err, st.Mode())
			}
			want := []entry{
				{Name: "dir", Type: tar.TypeDir, Mode: 0o750, UID: 1000, GID: 1000},
				{Name: "dir/abs-link", Type: tar.TypeSymlink, Link: "/etc/passwd"},
				{Name: "dir/link", Type: tar.TypeSymlink, Link: "script.sh"},
				{Name: "dir/script.sh", Type: tar.TypeReg, Mode: 0o755, Body: "#!/bin/sh\necho hi\n", UID: 1000, GID: 100},
				{Name: "dir/secret", Type: tar.TypeReg, Mode: 0o600, Body: "s3cret"},
				{Name: "dir/setuid", Type: tar.TypeReg, Mode: 0o4755, Body: "x"},
				{Name: "implicit", Type: tar.TypeDir, Mode: 0o755},
				{Name: "implicit/parent", Type: tar.TypeDir, Mode: 0o755},
				{Name: "implicit/parent/file", Type: tar.TypeReg, Mode: 0o644, Body: "deep"},
			}
			if diff := cmp.Diff(want, readTree(t, dest)); diff != "" {
				t.Errorf("extracted tree (-want +got):\n%s", diff)
			}
			fi, _ := os.Stat(filepath.Join(dest, "dir/script.sh"))
			if got, want := fi.ModTime().UTC(), time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC); !got.Equal(want) {
				t.Errorf("mtime = %v, want %v", got, want)
			}

			// Download the tree and extract it elsewhere: same tree.
			rc, err := c.Download(ctx, filepath.Join(dest, "dir"))
			if err != nil {
				t.Fatal(err)
			}
			data, err := io.ReadAll(rc)
			rc.Close()
			if err != nil {
				t.Fatal(err)
			}
			again := t.TempDir()
			if err := c.Upload(ctx, again, bytes.NewReader(data)); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(readTree(t, filepath.Join(dest, "dir")), readTree(t, filepath.Join(again, "dir"))); diff != "" {
				t.Errorf("download round trip (-orig +copy):\n%s", diff)
			}

			// A single file downloads as one entry named by its base name.
			rc, err = c.Download(ctx, filepath.Join(dest, "dir", "secret"))
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			hdr, err := tar.NewReader(rc).Next()
			if err != nil || hdr.Name != "secret" || hdr.Size != 6 {
				t.Errorf("single-file download: %+v, %v; want one entry \"secret\" of 6 bytes", hdr, err)
			}
		})
	}
}

func TestFilesErrors(t *testing.T) {
	srv, _ := newServer(t)
	c := serveUnix(t, srv, token)
	ctx := testCtx(t)
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, []byte("x"), 0o644)
	tests := []struct {
		name string
		call func() error
		want errdefs.Kind
	}{
		{"download missing", func() error { _, err := c.Download(ctx, "/no/such/path"); return err }, errdefs.NotFound},
		{"download relative", func() error { _, err := c.Download(ctx, "etc/passwd"); return err }, errdefs.InvalidArgument},
		{"upload relative", func() error { return c.Upload(ctx, "tmp/x", buildTar(t, nil)) }, errdefs.InvalidArgument},
		{"upload into a file", func() error { return c.Upload(ctx, file, buildTar(t, nil)) }, errdefs.FailedPrecondition},
		{"stat missing", func() error { _, err := c.Stat(ctx, "/no/such/path"); return err }, errdefs.NotFound},
		{"stat under a file", func() error { _, err := c.Stat(ctx, file+"/x"); return err }, errdefs.NotFound},
		{"stat relative", func() error { _, err := c.Stat(ctx, "etc"); return err }, errdefs.InvalidArgument},
		{"upload garbage", func() error {
			return c.Upload(ctx, t.TempDir(), bytes.NewReader(bytes.Repeat([]byte("garbage!"), 200)))
		}, errdefs.InvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := errdefs.KindOf(tt.call()); got != tt.want {
				t.Errorf("error kind = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestStat(t *testing.T) {
	srv, _ := newServer(t)
	c := serveUnix(t, srv, token)
	ctx := testCtx(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	os.WriteFile(file, []byte("hello"), 0o640)
	os.Symlink("file", filepath.Join(dir, "link"))
	for _, tt := range []struct {
		path string
		want proto.Stat
	}{
		{dir + "/", proto.Stat{Path: dir, Dir: true}},
		{file, proto.Stat{Path: file, Mode: 0o640, Size: 5}},
		{filepath.Join(dir, "link"), proto.Stat{Path: filepath.Join(dir, "link"), Mode: 0o640, Size: 5}},
	} {
		got, err := c.Stat(ctx, tt.path)
		if err != nil {
			t.Fatalf("Stat(%s): %v", tt.path, err)
		}
		if got.Path != tt.want.Path || got.Dir != tt.want.Dir || (!got.Dir && (got.Mode != tt.want.Mode || got.Size != tt.want.Size)) || got.ModTime.IsZero() {
			t.Errorf("Stat(%s) = %+v, want %+v", tt.path, got, tt.want)
		}
	}
}

func TestUploadSizeLimit(t *testing.T) {
	srv, _ := newServer(t)
	srv.MaxUpload = 4096
	c := serveUnix(t, srv, token)
	big := buildTar(t, []entry{{Name: "big", Type: tar.TypeReg, Mode: 0o644, Body: string(make([]byte, 64<<10))}})
	err := c.Upload(testCtx(t), t.TempDir(), big)
	if errdefs.KindOf(err) != errdefs.InvalidArgument || !contains(err.Error(), "limit") {
		t.Errorf("oversized upload: %v, want invalid_argument naming the limit", err)
	}
}
