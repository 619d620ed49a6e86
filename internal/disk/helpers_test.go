package disk

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"
)

// needTool returns the path of an e2fsprogs tool or skips the test.
func needTool(t testing.TB, name string) string {
	t.Helper()
	p, err := findTool(name)
	if err != nil {
		t.Skipf("needs %s: %v", name, err)
	}
	return p
}

// runTool runs a tool and fails the test with its output if it fails.
func runTool(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(needTool(t, name), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// makeExt4 makes a sparse file of size bytes formatted with mkfs.ext4 and
// the extra options.
func makeExt4(t testing.TB, size int64, extra ...string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "fs.ext4")
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(p, size); err != nil {
		t.Fatal(err)
	}
	runTool(t, "mkfs.ext4", append(append([]string{"-q", "-F"}, extra...), p)...)
	return p
}

// fsck checks an image read-only and fails the test if it is not clean.
func fsck(t testing.TB, path string) {
	t.Helper()
	runTool(t, "e2fsck", "-fn", path)
}

// writeFile writes data to a new file in dir and returns its path.
func writeFile(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func randomBytes(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// extent is a data region of a sparse file.
type extent struct{ Off, Len int64 }

// makeSparse writes random data at each extent of a file of size bytes,
// leaving everything else a hole.
func makeSparse(t testing.TB, path string, size int64, data []extent) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	for _, e := range data {
		if _, err := f.WriteAt(randomBytes(t, int(e.Len)), e.Off); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
}

// dataExtents lists a file's data regions as SEEK_DATA/SEEK_HOLE see them.
func dataExtents(t testing.TB, path string) []extent {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	var out []extent
	for off := int64(0); off < st.Size(); {
		start, err := unix.Seek(int(f.Fd()), off, unix.SEEK_DATA)
		if errors.Is(err, unix.ENXIO) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		end, err := unix.Seek(int(f.Fd()), start, unix.SEEK_HOLE)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, extent{start, end - start})
		off = end
	}
	return out
}

func fileHash(t testing.TB, path string) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return h.Sum(nil)
}

func sameContent(t testing.TB, a, b string) {
	t.Helper()
	if !bytes.Equal(fileHash(t, a), fileHash(t, b)) {
		t.Errorf("%s and %s differ", a, b)
	}
}

// sameData checks that two sparse files have the same data extents with
// the same bytes in them, which makes them equal without reading holes.
func sameData(t testing.TB, a, b string) {
	t.Helper()
	ea, eb := dataExtents(t, a), dataExtents(t, b)
	if len(ea) != len(eb) {
		t.Fatalf("%s has %d data extents, %s has %d", a, len(ea), b, len(eb))
	}
	fa, err := os.Open(a)
	if err != nil {
		t.Fatal(err)
	}
	defer fa.Close()
	fb, err := os.Open(b)
	if err != nil {
		t.Fatal(err)
	}
	defer fb.Close()
	for i, e := range ea {
		if eb[i] != e {
			t.Fatalf("extent %d: %s has %+v, %s has %+v", i, a, e, b, eb[i])
		}
		ba, bb := make([]byte, e.Len), make([]byte, e.Len)
		if _, err := fa.ReadAt(ba, e.Off); err != nil {
			t.Fatal(err)
		}
		if _, err := fb.ReadAt(bb, e.Off); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(ba, bb) {
			t.Fatalf("extent %+v differs between %s and %s", e, a, b)
		}
	}
}

func allocated(t testing.TB, path string) int64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Blocks * 512
}

// tempFiles lists leftover temporary files in dir.
func tempFiles(t testing.TB, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*.tmp-*"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// countdownCtx is a context whose Err reports cancellation once it has
// been asked more than n times, to cancel a copy at a chosen point.
type countdownCtx struct {
	context.Context
	left atomic.Int64
}

func newCountdownCtx(n int64) *countdownCtx {
	c := &countdownCtx{Context: context.Background()}
	c.left.Store(n)
	return c
}

func (c *countdownCtx) Err() error {
	if c.left.Add(-1) < 0 {
		return context.Canceled
	}
	return nil
}
