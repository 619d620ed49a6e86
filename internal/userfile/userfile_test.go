package userfile

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"banger/internal/errdefs"
)

// hangLimit is how long a call may take before the test calls it hung. It
// is a hang detector, not a timing check: every call here returns at once
// or never.
const hangLimit = 30 * time.Second

// noHang runs fn and fails the test if it does not return within
// hangLimit.
func noHang[T any](t *testing.T, what string, fn func() (T, error)) (T, error) {
	t.Helper()
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, err := fn()
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		return r.v, r.err
	case <-time.After(hangLimit):
		t.Fatalf("%s hung", what)
	}
	var zero T
	return zero, nil
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestOpenRegularFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "vmlinuz-6.1")
	writeFile(t, p, []byte("kernel"))
	// A user's symlink, as /boot/vmlinuz -> vmlinuz-6.1, is followed.
	link := filepath.Join(dir, "vmlinuz")
	if err := os.Symlink("vmlinuz-6.1", link); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{p, link} {
		f, err := Open(path, 100)
		if err != nil {
			t.Fatalf("Open(%s): %v", path, err)
		}
		got, err := io.ReadAll(f)
		f.Close()
		if err != nil || string(got) != "kernel" {
			t.Errorf("read %s = %q, %v; want \"kernel\"", path, got, err)
		}
		if f.Name() != path {
			t.Errorf("file name = %q, want %q (the user's path, for messages)", f.Name(), path)
		}
	}
}

func TestOpenRefuses(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big")
	writeFile(t, big, make([]byte, 101))
	linkToFIFO := filepath.Join(dir, "link")
	if err := os.Symlink(fifo, linkToFIFO); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path string
		want       error
		kind       errdefs.Kind
	}{
		{"fifo", fifo, ErrNotRegular, errdefs.InvalidArgument},
		{"symlink-to-fifo", linkToFIFO, ErrNotRegular, errdefs.InvalidArgument},
		{"dev-zero", "/dev/zero", ErrNotRegular, errdefs.InvalidArgument},
		{"directory", dir, ErrNotRegular, errdefs.InvalidArgument},
		{"too-large", big, ErrTooLarge, errdefs.InvalidArgument},
		{"missing", filepath.Join(dir, "missing"), fs.ErrNotExist, errdefs.NotFound},
		{"under-a-file", filepath.Join(big, "x"), fs.ErrNotExist, errdefs.NotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := noHang(t, "Open", func() (*os.File, error) { return Open(tt.path, 100) })
			if err == nil {
				f.Close()
				t.Fatalf("Open(%s) succeeded, want %v", tt.path, tt.want)
			}
			if !errors.Is(err, tt.want) {
				t.Errorf("Open(%s) = %v, want it to wrap %v", tt.path, err, tt.want)
			}
			if k := errdefs.KindOf(err); k != tt.kind {
				t.Errorf("kind = %s, want %s", k, tt.kind)
			}
			if !bytes.Contains([]byte(err.Error()), []byte(tt.path)) {
				t.Errorf("error %q does not name %s", err, tt.path)
			}
		})
	}
}

// TestOpenNoFollowFIFO covers the race Open's early stat cannot: a FIFO
// swapped in after the check. The open itself must not block (a FIFO
// without a writer blocks a plain open forever) and fstat must refuse it.
func TestOpenNoFollowFIFO(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	fd, err := noHang(t, "openNoFollow", func() (int, error) { return openNoFollow(fifo) })
	if err != nil {
		t.Fatalf("openNoFollow: %v", err)
	}
	f, err := check(fd, fifo, 1<<20)
	if err == nil {
		f.Close()
		t.Fatal("check accepted a FIFO")
	}
	syscall.Close(fd)
	if !errors.Is(err, ErrNotRegular) {
		t.Errorf("check = %v, want ErrNotRegular", err)
	}
}

// TestOpenNoFollowSwappedSymlink: once resolved, a path whose component
// became a symlink is refused rather than followed.
func TestOpenNoFollowSwappedSymlink(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "secret"), []byte("secret"))
	if err := os.Mkdir(filepath.Join(dir, "real"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(dir, filepath.Join(dir, "sub")); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{filepath.Join(dir, "sub", "secret"), filepath.Join(dir, "sub")} {
		fd, err := openNoFollow(p)
		if err == nil {
			syscall.Close(fd)
			t.Fatalf("openNoFollow(%s) followed a symlink", p)
		}
		if !errors.Is(err, ErrSwapped) {
			t.Errorf("openNoFollow(%s) = %v, want ErrSwapped", p, err)
		}
	}
}

func TestReadFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "config.toml")
	writeFile(t, p, []byte("log_level = \"debug\"\n"))
	got, err := ReadFile(p, 1<<20)
	if err != nil || string(got) != "log_level = \"debug\"\n" {
		t.Errorf("ReadFile = %q, %v", got, err)
	}
	if _, err := noHang(t, "ReadFile(/dev/zero)", func() ([]byte, error) { return ReadFile("/dev/zero", 1<<20) }); !errors.Is(err, ErrNotRegular) {
		t.Errorf("ReadFile(/dev/zero) = %v, want ErrNotRegular", err)
	}
}

// endless is a reader that never ends and counts the bytes it gave.
type endless struct{ n int64 }

func (e *endless) Read(p []byte) (int, error) {
	e.n += int64(len(p))
	return len(p), nil
}

// cancelAfter is a writer that cancels a context once it has taken limit
// bytes.
type cancelAfter struct {
	n, limit int64
	cancel   context.CancelFunc
}

func (c *cancelAfter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	if c.n >= c.limit {
		c.cancel()
	}
	return len(p), nil
}

func TestCopyStopsWhenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	src := &endless{}
	dst := &cancelAfter{limit: 8 << 20, cancel: cancel}
	n, err := noHang(t, "Copy", func() (int64, error) { return Copy(ctx, dst, src) })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Copy = %d, %v; want context.Canceled", n, err)
	}
	if n != dst.n || n < dst.limit || n > dst.limit+chunk {
		t.Errorf("copied %d bytes, want between %d and %d (one chunk past the cancel)", n, dst.limit, dst.limit+chunk)
	}
}

func TestCopy(t *testing.T) {
	want := bytes.Repeat([]byte("0123456789"), 300_000)
	var got bytes.Buffer
	n, err := Copy(context.Background(), &got, bytes.NewReader(want))
	if err != nil || n != int64(len(want)) || !bytes.Equal(got.Bytes(), want) {
		t.Errorf("Copy = %d, %v; copied %d bytes equal=%v", n, err, got.Len(), bytes.Equal(got.Bytes(), want))
	}
}
