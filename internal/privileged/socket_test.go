package privileged

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"banger/internal/errdefs"
	"banger/internal/testtier"
)

func TestListen(t *testing.T) {
	tests := []struct {
		name   string
		root   bool // needs root to set up
		setup  func(t *testing.T, dir, sock string)
		kind   errdefs.Kind // "" for success
		saying string
	}{
		{name: "missing directory is made"},
		{name: "a private directory is opened up", setup: func(t *testing.T, dir, _ string) {
			mkdir(t, dir, 0o700)
		}},
		{name: "a stale socket is replaced", setup: func(t *testing.T, dir, sock string) {
			mkdir(t, dir, 0o755)
			ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
			if err != nil {
				t.Fatal(err)
			}
			ln.SetUnlinkOnClose(false)
			ln.Close()
		}},
		{name: "a live helper is not displaced", setup: func(t *testing.T, dir, sock string) {
			mkdir(t, dir, 0o755)
			ln, err := net.Listen("unix", sock)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { ln.Close() })
		}, kind: errdefs.AlreadyExists, saying: "already serves"},
		{name: "a file at the socket's path", setup: func(t *testing.T, dir, sock string) {
			mkdir(t, dir, 0o755)
			if err := os.WriteFile(sock, nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}, kind: errdefs.FailedPrecondition, saying: "not a socket"},
		{name: "a symlinked directory", setup: func(t *testing.T, dir, _ string) {
			real := dir + ".real"
			mkdir(t, real, 0o755)
			if err := os.Symlink(real, dir); err != nil {
				t.Fatal(err)
			}
		}, kind: errdefs.FailedPrecondition, saying: "symlink"},
		{name: "a file as the directory", setup: func(t *testing.T, dir, _ string) {
			if err := os.WriteFile(dir, nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}, kind: errdefs.FailedPrecondition, saying: "not a directory"},
		{name: "another user's directory", root: true, setup: func(t *testing.T, dir, _ string) {
			mkdir(t, dir, 0o755)
			if err := os.Chown(dir, 4711, 4711); err != nil {
				t.Fatal(err)
			}
		}, kind: errdefs.FailedPrecondition, saying: "owned by uid 4711"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.root {
				testtier.Root(t)
			}
			dir := filepath.Join(t.TempDir(), "run")
			sock := filepath.Join(dir, "helper.sock")
			if tt.setup != nil {
				tt.setup(t, dir, sock)
			}
			ln, err := Listen(sock, os.Geteuid())
			if got := errdefs.KindOf(err); got != tt.kind || (err != nil && !strings.Contains(err.Error(), tt.saying)) {
				t.Fatalf("Listen: %v, want kind %q saying %q", err, tt.kind, tt.saying)
			}
			if err != nil {
				return
			}
			defer ln.Close()
			if got := mode(t, dir); got != 0o755|os.ModeDir {
				t.Errorf("directory mode %v, want drwxr-xr-x", got)
			}
			if got := mode(t, sock); got != 0o600|os.ModeSocket {
				t.Errorf("socket mode %v, want Srw-------", got)
			}
		})
	}
	if _, err := Listen("helper.sock", os.Geteuid()); errdefs.KindOf(err) != errdefs.InvalidArgument {
		t.Errorf("relative path: %v, want invalid_argument", err)
	}
}

func mkdir(t *testing.T, dir string, perm os.FileMode) {
	t.Helper()
	if err := os.Mkdir(dir, perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, perm); err != nil { // whatever the umask
		t.Fatal(err)
	}
}

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); !ok || int(st.Uid) != os.Geteuid() {
		t.Errorf("%s is not owned by this process's euid", path)
	}
	return fi.Mode() & (os.ModeType | os.ModePerm)
}

// TestListenGivesSocketToServedUID: the socket belongs to the uid the
// helper serves, mode 0600, in a root-owned directory.
func TestListenGivesSocketToServedUID(t *testing.T) {
	testtier.Root(t)
	sock := filepath.Join(t.TempDir(), "run", "helper.sock")
	ln, err := Listen(sock, 4711)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	fi, err := os.Lstat(sock)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if st.Uid != 4711 || fi.Mode()&(os.ModeType|os.ModePerm) != 0o600|os.ModeSocket {
		t.Errorf("socket uid %d mode %v, want uid 4711 mode Srw-------", st.Uid, fi.Mode())
	}
	if got := mode(t, filepath.Dir(sock)); got != 0o755|os.ModeDir {
		t.Errorf("directory mode %v, want drwxr-xr-x owned by root", got)
	}
	for _, uid := range []int{-1, 1 << 32} {
		if _, err := Listen(filepath.Join(t.TempDir(), "helper.sock"), uid); errdefs.KindOf(err) != errdefs.InvalidArgument {
			t.Errorf("Listen for uid %d: %v, want invalid_argument", uid, err)
		}
	}
}
