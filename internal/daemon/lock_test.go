package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"banger/internal/api"
	"banger/internal/errdefs"
	"banger/internal/paths"
	"banger/internal/process"
)

// TestOneDaemonPerState: a second daemon on the state of a running one is
// refused before it opens the store, naming the running daemon's pid, even
// with another runtime directory; so is one with another state on the
// same runtime directory (the same socket). The first keeps serving on its
// socket, and once it has closed, a new daemon may start.
func TestOneDaemonPerState(t *testing.T) {
	td := startDaemon(t, daemonOpts{})
	other := shortDir(t)
	tests := []struct {
		name   string
		layout paths.Layout
		what   string // the directory the refusal names
	}{
		{"same layout", td.layout, "state directory " + td.layout.StateDir},
		{"same state, other runtime directory", withDirs(td.layout, td.layout.StateDir, filepath.Join(other, "run")), "state directory " + td.layout.StateDir},
		{"other state, same runtime directory", withDirs(td.layout, filepath.Join(other, "state"), td.layout.RuntimeDir), "runtime directory " + td.layout.RuntimeDir},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := New(context.Background(), testOptions(t, tt.layout, os.Getuid(), &syncBuffer{}))
			if err == nil {
				d.Close()
				t.Fatal("a second daemon started beside the running one")
			}
			var running *AlreadyRunningError
			if !errors.As(err, &running) {
				t.Fatalf("error %v (%T), want an *AlreadyRunningError", err, err)
			}
			want := fmt.Sprintf("bangerd is already running on %s (pid %d): use that one, or stop it first with banger daemon stop", tt.what, os.Getpid())
			if got := err.Error(); got != want {
				t.Errorf("error:\n got %s\nwant %s", got, want)
			}
			if got, want := errdefs.KindOf(err), errdefs.FailedPrecondition; got != want {
				t.Errorf("kind = %s, want %s", got, want)
			}
			if resp, body := td.sub(t).do("GET", "/v1/system/info", ""); resp.StatusCode != http.StatusOK {
				t.Errorf("the first daemon no longer answers: %d %s", resp.StatusCode, body)
			}
		})
	}
	if _, err := os.Lstat(filepath.Join(other, "state", "banger.db")); err == nil {
		t.Error("a refused daemon opened a store")
	}
}

// TestCloseReleasesLock: once a daemon has closed, the next one starts on
// the same directories.
func TestCloseReleasesLock(t *testing.T) {
	root := shortDir(t)
	layout := paths.Layout{
		ConfigDir: filepath.Join(root, "cfg"), StateDir: filepath.Join(root, "state"),
		CacheDir: filepath.Join(root, "cache"), RuntimeDir: filepath.Join(root, "run"),
	}
	for i := range 2 {
		d, err := New(context.Background(), testOptions(t, layout, os.Getuid(), &syncBuffer{}))
		if err != nil {
			t.Fatalf("daemon %d: %v", i+1, err)
		}
		if err := d.Close(); err != nil {
			t.Fatalf("close daemon %d: %v", i+1, err)
		}
	}
}

func withDirs(l paths.Layout, state, run string) paths.Layout {
	l.StateDir, l.RuntimeDir = state, run
	return l
}

// TestLockFile: the lock file holds the pid, is private, is not inherited
// by children (no VMM can keep a dead daemon's lock), and a symlink
// planted in its place is refused.
func TestLockFile(t *testing.T) {
	dir := shortDir(t)
	l, err := lockDir("state directory", dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.release()
	path := filepath.Join(dir, LockFile)
	data, err := os.ReadFile(path)
	if err != nil || string(data) != fmt.Sprintf("%d\n", os.Getpid()) {
		t.Errorf("lock file holds %q (%v), want this pid", data, err)
	}
	if fi, err := os.Lstat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("lock file mode %v (%v), want 0600", fi.Mode(), err)
	}
	flags, err := unix.FcntlInt(uintptr(l.fd), unix.F_GETFD, 0)
	if err != nil || flags&unix.FD_CLOEXEC == 0 {
		t.Errorf("lock descriptor flags %#x (%v): want FD_CLOEXEC, or VMMs inherit the lock", flags, err)
	}

	link := shortDir(t)
	if err := os.Symlink(path, filepath.Join(link, LockFile)); err != nil {
		t.Fatal(err)
	}
	_, err = lockDir("state directory", link)
	if err == nil || !strings.Contains(err.Error(), "is a symlink") {
		t.Errorf("lockDir over a symlinked lock file = %v, want a refusal", err)
	}
}

// TestCloseKeepsAnotherDaemonsSocket: a daemon that closes its listener
// after its socket was replaced (by a daemon that found it stale) leaves
// the new socket alone.
func TestCloseKeepsAnotherDaemonsSocket(t *testing.T) {
	setUmask(t, 0o077)
	path := filepath.Join(shortDir(t), "d.sock")
	first, err := listen(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	second, err := listen(path)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	if !dialable(path) {
		t.Error("closing the first listener removed the second one's socket")
	}
}

// TestShutdownRoute: POST /v1/system/shutdown answers with the pid, then
// the daemon stops serving and removes its socket, and running VMs keep
// running, as with SIGTERM.
func TestShutdownRoute(t *testing.T) {
	td := startDaemon(t, daemonOpts{})
	img := td.registerImage("base")
	if resp, body := td.do("POST", "/v1/vms", smallVM("web", img.Name, true)); resp.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d %s", resp.StatusCode, body)
	}
	rec, err := td.d.store.GetVM(context.Background(), "web")
	if err != nil {
		t.Fatal(err)
	}
	resp, body := td.do("POST", "/v1/system/shutdown", "")
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("shutdown: %d %s", resp.StatusCode, body)
	}
	var got api.ShutdownReply
	decodeStrict(t, body, &got)
	if got.PID != os.Getpid() {
		t.Errorf("shutdown reply pid %d, want %d", got.PID, os.Getpid())
	}
	select {
	case err := <-td.srv.done:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
		td.srv.done <- err // for the cleanup's stop
	case <-time.After(20 * time.Second):
		t.Fatal("Serve did not return after the shutdown request")
	}
	if _, err := os.Lstat(td.layout.Socket()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the socket is still there after shutdown (%v)", err)
	}
	if c, err := net.Dial("unix", td.layout.Socket()); err == nil {
		c.Close()
		t.Error("the daemon still answers after shutdown")
	}
	if !process.Alive(rec.PID, rec.PIDStart) {
		t.Errorf("VM web's VMM (pid %d) died with the daemon's shutdown", rec.PID)
	}
}
