package disk

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"

	"banger/internal/errdefs"
	"banger/internal/testtier"
	"banger/internal/userfile"
)

const mib = 1 << 20

// allocSlack is how many more bytes a copy may have allocated than its
// source for filesystem metadata: a few extent-tree blocks.
const allocSlack = 16 * 4096

var copiers = []struct {
	name string
	c    copier
}{
	{"copy_file_range", copier{}},
	{"read-write", copier{noCopyRange: true}},
	{"no-seek-data", copier{noSeekData: true, noCopyRange: true}},
}

func TestSparseCopyLayouts(t *testing.T) {
	testtier.Slow(t) // writes and copies hundreds of MiB
	layouts := []struct {
		name string
		size int64
		data []extent
	}{
		{"empty", 0, nil},
		{"all hole", 64 * mib, nil},
		{"all data", 3 * mib, []extent{{0, 3 * mib}}},
		{"leading hole", 8 * mib, []extent{{4 * mib, 4 * mib}}},
		{"trailing hole", 8 * mib, []extent{{0, 2 * mib}}},
		{"big hole", 1 << 30, []extent{{0, mib}, {512 * mib, 2 * mib}, {(1 << 30) - mib, mib}}},
		{"many extents", 64 * mib, []extent{{0, mib}, {3 * mib, mib}, {8 * mib, 2 * mib}, {20 * mib, mib}, {40 * mib, 5 * mib}, {63 * mib, mib}}},
		{"extent larger than a chunk", 160 * mib, []extent{{mib, copyChunk + 3*mib}}},
		{"unaligned size", 5*mib + 123, []extent{{0, mib}, {4 * mib, mib + 123}}},
	}
	for _, cp := range copiers {
		for _, l := range layouts {
			t.Run(cp.name+"/"+l.name, func(t *testing.T) {
				dir := t.TempDir()
				src, dst := filepath.Join(dir, "src"), filepath.Join(dir, "dst")
				makeSparse(t, src, l.size, l.data)
				if err := cp.c.copyFile(context.Background(), src, dst); err != nil {
					t.Fatalf("copy: %v", err)
				}
				if l.size <= 256*mib {
					sameContent(t, src, dst)
				}
				sameData(t, src, dst)
				if diff := cmp.Diff(dataExtents(t, src), dataExtents(t, dst)); diff != "" {
					t.Errorf("data extents differ (-src +dst):\n%s", diff)
				}
				// The data extents above are the exact check; allocation may
				// differ by the filesystem's own metadata (an extent-tree
				// block when the copy's extents came out split), never by
				// a filled hole, which is at least a megabyte here.
				if got, want := allocated(t, dst), allocated(t, src); got > want+allocSlack {
					t.Errorf("dst has %d bytes allocated, src %d: holes were filled", got, want)
				}
				st, err := os.Stat(dst)
				if err != nil {
					t.Fatal(err)
				}
				if got, want := st.Size(), l.size; got != want {
					t.Errorf("dst size = %d, want %d", got, want)
				}
				if got, want := st.Mode().Perm(), os.FileMode(0o600); got != want {
					t.Errorf("dst mode = %v, want %v", got, want)
				}
				if left := tempFiles(t, dir); len(left) != 0 {
					t.Errorf("temporary files left: %v", left)
				}
			})
		}
	}
}

// TestSparseCopyKeepsHoles checks holes through allocated blocks, the way
// the brief asks: a 1 GiB file with 2 MiB of data must copy to about 2 MiB.
func TestSparseCopyKeepsHoles(t *testing.T) {
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "src"), filepath.Join(dir, "dst")
	makeSparse(t, src, 1<<30, []extent{{0, mib}, {900 * mib, mib}})
	if err := SparseCopy(context.Background(), src, dst); err != nil {
		t.Fatal(err)
	}
	if got, max := allocated(t, dst), int64(4*mib); got > max {
		t.Errorf("dst has %d bytes allocated, want at most %d", got, max)
	}
	sameData(t, src, dst)
}

func TestSparseCopyReplacesDst(t *testing.T) {
	dir := t.TempDir()
	src := writeFile(t, dir, "src", randomBytes(t, 3*mib))
	dst := writeFile(t, dir, "dst", []byte("old contents that are longer than nothing"))
	if err := SparseCopy(context.Background(), src, dst); err != nil {
		t.Fatal(err)
	}
	sameContent(t, src, dst)
	st, _ := os.Stat(dst)
	if got, want := st.Mode().Perm(), os.FileMode(0o600); got != want {
		t.Errorf("dst mode = %v, want %v", got, want)
	}
}

func TestSparseCopyFailureLeavesDstAlone(t *testing.T) {
	const old = "the previous dst"
	tests := []struct {
		name string
		ctx  func() context.Context
		src  func(t *testing.T, dir string) string
		kind errdefs.Kind
		is   error
	}{
		{
			name: "cancelled before start",
			ctx: func() context.Context {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				return ctx
			},
			src: sparseSource,
			is:  context.Canceled,
		},
		{
			name: "cancelled between extents",
			ctx:  func() context.Context { return newCountdownCtx(3) },
			src:  sparseSource,
			is:   context.Canceled,
		},
		{
			name: "missing source",
			ctx:  context.Background,
			src:  func(t *testing.T, dir string) string { return filepath.Join(dir, "nope") },
			kind: errdefs.NotFound,
		},
		{
			name: "source is a directory",
			ctx:  context.Background,
			src:  func(t *testing.T, dir string) string { return t.TempDir() },
			kind: errdefs.InvalidArgument,
		},
		{
			// An image file swapped for a FIFO once blocked vm create
			// forever in the open, with no writer ever coming.
			name: "source is a FIFO",
			ctx:  context.Background,
			src: func(t *testing.T, dir string) string {
				p := filepath.Join(dir, "fifo")
				if err := syscall.Mkfifo(p, 0o600); err != nil {
					t.Fatal(err)
				}
				return p
			},
			kind: errdefs.InvalidArgument,
			is:   userfile.ErrNotRegular,
		},
		{
			name: "source is /dev/zero",
			ctx:  context.Background,
			src:  func(t *testing.T, dir string) string { return "/dev/zero" },
			kind: errdefs.InvalidArgument,
			is:   userfile.ErrNotRegular,
		},
	}
	for _, cp := range copiers {
		for _, tt := range tests {
			t.Run(cp.name+"/"+tt.name, func(t *testing.T) {
				dir := t.TempDir()
				src := tt.src(t, dir)
				dst := writeFile(t, dir, "dst", []byte(old))
				err := cp.c.copyFile(tt.ctx(), src, dst)
				if err == nil {
					t.Fatal("copy succeeded, want an error")
				}
				if tt.is != nil && !errors.Is(err, tt.is) {
					t.Errorf("copy = %v, want %v", err, tt.is)
				}
				if tt.kind != "" && errdefs.KindOf(err) != tt.kind {
					t.Errorf("copy kind = %q, want %q (%v)", errdefs.KindOf(err), tt.kind, err)
				}
				got, rerr := os.ReadFile(dst)
				if rerr != nil || string(got) != old {
					t.Errorf("dst = %q, %v after failed copy, want %q", got, rerr, old)
				}
				if left := tempFiles(t, dir); len(left) != 0 {
					t.Errorf("temporary files left: %v", left)
				}
			})
		}
	}
}

// sparseSource makes a source with several extents spread over more than
// two copy chunks, so every copier checks its context several times.
func sparseSource(t *testing.T, dir string) string {
	p := filepath.Join(dir, "src")
	size := int64(3*copyChunk + mib)
	makeSparse(t, p, size, []extent{{0, mib}, {copyChunk, mib}, {2 * copyChunk, mib}, {size - mib, mib}})
	return p
}

func TestSparseCopyMissingDstDir(t *testing.T) {
	dir := t.TempDir()
	src := writeFile(t, dir, "src", []byte("x"))
	if err := SparseCopy(context.Background(), src, filepath.Join(dir, "no", "dst")); err == nil {
		t.Error("copy into a missing directory succeeded, want an error")
	}
}
