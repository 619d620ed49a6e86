package doctor

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"

	"banger/internal/vmm"
)

// fakeDriver answers Check with a fixed Info or error and counts calls.
type fakeDriver struct {
	info  vmm.Info
	err   error
	calls int
}

func (f *fakeDriver) Check(context.Context) (vmm.Info, error) {
	f.calls++
	return f.info, f.err
}

// fakeStore answers Check with a fixed error.
type fakeStore struct{ err error }

func (f *fakeStore) Check(context.Context) error { return f.err }

// host is a scratch host layout: a private runtime directory holding a
// listening daemon socket, and a state directory.
type host struct {
	base       string
	runtimeDir string
	socket     string
	stateDir   string
}

// newHost makes the layout under a short temporary directory (socket paths
// are limited to 108 bytes) and removes it when the test ends.
func newHost(t *testing.T) *host {
	t.Helper()
	base, err := os.MkdirTemp("", "bgd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	h := &host{
		base:       base,
		runtimeDir: filepath.Join(base, "run"),
		stateDir:   filepath.Join(base, "state"),
	}
	h.socket = filepath.Join(h.runtimeDir, "bangerd.sock")
	for _, d := range []string{h.runtimeDir, h.stateDir} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	ln, err := net.Listen("unix", h.socket)
	if err != nil {
		t.Fatalf("listen on %s: %v", h.socket, err)
	}
	t.Cleanup(func() { ln.Close() })
	if err := os.Chmod(h.socket, 0o600); err != nil {
		t.Fatal(err)
	}
	return h
}

// deps returns Deps over the host layout whose every check passes, except
// KVM (which points at /dev/null) and disk space (which depends on the
// machine).
func (h *host) deps(driver *fakeDriver, st *fakeStore, tools []Tool) Deps {
	return Deps{
		KVMPath:    "/dev/null",
		Driver:     driver,
		DriverName: "firecracker",
		Tools:      func() []Tool { return tools },
		Store:      st,
		RuntimeDir: h.runtimeDir,
		Socket:     h.socket,
		StateDir:   h.stateDir,
		UID:        os.Getuid(),
	}
}
