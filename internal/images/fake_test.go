package images

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"

	"banger/internal/store"
)

// fakeInspector is a stateful Inspector: bad maps a path to the error its
// check returns, and checked records which check ran on which path.
type fakeInspector struct {
	mu      sync.Mutex
	bad     map[string]error
	checked map[string]string // path → "rootfs" or "kernel"
}

func newFakeInspector() *fakeInspector {
	return &fakeInspector{bad: map[string]error{}, checked: map[string]string{}}
}

func (f *fakeInspector) CheckRootFS(path string) error { return f.check("rootfs", path) }
func (f *fakeInspector) CheckKernel(path string) error { return f.check("kernel", path) }

// ReadsIdentityDisk: a root filesystem whose content is "identity-disk"
// carries the marker.
func (f *fakeInspector) ReadsIdentityDisk(_ context.Context, path string) (bool, error) {
	b, err := os.ReadFile(path)
	return string(b) == "identity-disk", err
}

func (f *fakeInspector) check(what, path string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.checked[path] = what
	return f.bad[path]
}

// fixture is a Service over a real store in a temporary directory, with
// host files to register.
type fixture struct {
	svc     *Service
	store   *store.Store
	inspect *fakeInspector
	dir     string
	ids     int
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(context.Background(), filepath.Join(dir, "state.db"))
	if err != nil {
		t.Fatalf("store.Open: %v", err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("store.Close: %v", err)
		}
	})
	f := &fixture{store: st, inspect: newFakeInspector(), dir: dir}
	f.svc = New(st, f.inspect, func() string {
		f.ids++
		return fmt.Sprintf("%016x", f.ids)
	})
	return f
}

// file creates a regular file of size bytes under the fixture's directory
// and returns its absolute path.
func (f *fixture) file(t *testing.T, name string, size int) string {
	t.Helper()
	p := filepath.Join(f.dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, make([]byte, size), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// subdir creates a directory under the fixture's directory.
func (f *fixture) subdir(t *testing.T, name string) string {
	t.Helper()
	p := filepath.Join(f.dir, name)
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// fifo makes a named pipe in the fixture's directory: a plain open of it
// blocks until a writer comes, which never happens.
func (f *fixture) fifo(t *testing.T, name string) string {
	t.Helper()
	p := filepath.Join(f.dir, name)
	if err := syscall.Mkfifo(p, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
