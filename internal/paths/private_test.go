package paths

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"banger/internal/errdefs"
	"banger/internal/testtier"
)

// nobody is the uid the ownership tests give directories to.
const nobody = 65534

// modeOwner returns the permission bits and owner of path, without
// following a symlink.
func modeOwner(t *testing.T, path string) (os.FileMode, int) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode() & (os.ModePerm | os.ModeSetuid | os.ModeSetgid | os.ModeSticky), int(fi.Sys().(*syscall.Stat_t).Uid)
}

func TestEnsurePrivateDirCreates(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	if err := EnsurePrivateDir(dir, os.Getuid()); err != nil {
		t.Fatal(err)
	}
	mode, owner := modeOwner(t, dir)
	if mode != 0o700 || owner != os.Getuid() {
		t.Errorf("created dir: mode %v owner %d, want 0700 owner %d", mode, owner, os.Getuid())
	}
	// A second call accepts what the first made.
	if err := EnsurePrivateDir(dir, os.Getuid()); err != nil {
		t.Errorf("second call: %v", err)
	}
}

func TestEnsurePrivateDirCreatesForOtherUser(t *testing.T) {
	testtier.Root(t) // chowns to another uid
	dir := filepath.Join(t.TempDir(), "run")
	if err := EnsurePrivateDir(dir, nobody); err != nil {
		t.Fatal(err)
	}
	mode, owner := modeOwner(t, dir)
	if mode != 0o700 || owner != nobody {
		t.Errorf("created dir: mode %v owner %d, want 0700 owner %d", mode, owner, nobody)
	}
}

func TestEnsurePrivateDirTightens(t *testing.T) {
	for _, m := range []os.FileMode{0o755, 0o777, 0o711, 0o500, 0o700 | os.ModeSticky} {
		dir := filepath.Join(t.TempDir(), "run")
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, m); err != nil {
			t.Fatal(err)
		}
		if err := EnsurePrivateDir(dir, os.Getuid()); err != nil {
			t.Errorf("mode %v: %v", m, err)
			continue
		}
		if got, _ := modeOwner(t, dir); got != 0o700 {
			t.Errorf("mode %v re-tightened to %v, want 0700", m, got)
		}
	}
}

func TestEnsurePrivateDirDoesNotCreateParent(t *testing.T) {
	parent := filepath.Join(t.TempDir(), "missing")
	err := EnsurePrivateDir(filepath.Join(parent, "run"), os.Getuid())
	if err == nil {
		t.Fatal("EnsurePrivateDir under a missing parent succeeded")
	}
	if !strings.Contains(err.Error(), "check that "+parent+" exists") {
		t.Errorf("error %q does not point at the missing parent", err)
	}
	if _, err := os.Lstat(parent); !os.IsNotExist(err) {
		t.Errorf("parent was created (Lstat: %v)", err)
	}
}

func TestEnsurePrivateDirRefuses(t *testing.T) {
	tests := []struct {
		name  string
		root  bool                                 // needs root to set up
		setup func(t *testing.T, dir string) error // makes dir bad
		want  func(dir string) string              // the whole message
	}{
		{
			name: "symlink to a good directory",
			setup: func(t *testing.T, dir string) error {
				good := filepath.Join(filepath.Dir(dir), "good")
				if err := os.Mkdir(good, 0o700); err != nil {
					return err
				}
				return os.Symlink(good, dir)
			},
			want: func(dir string) string {
				return "runtime directory " + dir + " is a symlink to " + filepath.Join(filepath.Dir(dir), "good") +
					", which banger refuses to follow: remove the link (rm " + dir + ") and start banger again"
			},
		},
		{
			name:  "dangling symlink",
			setup: func(t *testing.T, dir string) error { return os.Symlink("/nonexistent/banger", dir) },
			want: func(dir string) string {
				return "runtime directory " + dir + " is a symlink to /nonexistent/banger, which banger refuses to follow: remove the link (rm " + dir + ") and start banger again"
			},
		},
		{
			name:  "file, not a directory",
			setup: func(t *testing.T, dir string) error { return os.WriteFile(dir, nil, 0o600) },
			want: func(dir string) string {
				return "runtime directory " + dir + " is a file, not a directory: remove it (rm " + dir + ") and start banger again"
			},
		},
		{
			name:  "named pipe",
			setup: func(t *testing.T, dir string) error { return unix.Mkfifo(dir, 0o600) },
			want: func(dir string) string {
				return "runtime directory " + dir + " is a named pipe, not a directory: remove it (rm " + dir + ") and start banger again"
			},
		},
		{
			name: "owned by another user",
			root: true,
			setup: func(t *testing.T, dir string) error {
				if err := os.Mkdir(dir, 0o700); err != nil {
					return err
				}
				return os.Chown(dir, nobody, nobody)
			},
			want: func(dir string) string {
				return "runtime directory " + dir + " is owned by uid 65534, not 0: remove it (rm -rf " + dir + ") and start banger again"
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.root {
				testtier.Root(t) // chowns to another uid
			}
			dir := filepath.Join(t.TempDir(), "run")
			if err := tt.setup(t, dir); err != nil {
				t.Fatal(err)
			}
			before, _ := os.Lstat(dir)
			err := EnsurePrivateDir(dir, os.Getuid())
			if err == nil {
				t.Fatal("EnsurePrivateDir succeeded, want a refusal")
			}
			if got, want := err.Error(), tt.want(dir); got != want {
				t.Errorf("error:\n got %s\nwant %s", got, want)
			}
			if got, want := errdefs.KindOf(err), errdefs.FailedPrecondition; got != want {
				t.Errorf("kind = %s, want %s", got, want)
			}
			after, _ := os.Lstat(dir)
			if before.Mode() != after.Mode() {
				t.Errorf("refused entry changed mode from %v to %v", before.Mode(), after.Mode())
			}
		})
	}
}

func TestEnsurePrivateDirRelative(t *testing.T) {
	err := EnsurePrivateDir("run", os.Getuid())
	if got, want := errdefs.KindOf(err), errdefs.InvalidArgument; got != want {
		t.Errorf("EnsurePrivateDir(relative) = %v (kind %s), want kind %s", err, got, want)
	}
}

// TestEnsurePrivateDirSymlinkRace swaps a symlink to a loose decoy directory
// in and out of place while EnsurePrivateDir runs: whatever each call
// returns, it must never chmod the decoy through the link.
func TestEnsurePrivateDirSymlinkRace(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "run")
	other := filepath.Join(root, "other")
	decoy := filepath.Join(root, "decoy")
	for _, d := range []string{dir, decoy} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(decoy, other); err != nil {
		t.Fatal(err)
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := unix.Renameat2(unix.AT_FDCWD, dir, unix.AT_FDCWD, other, unix.RENAME_EXCHANGE); err != nil {
				t.Errorf("exchange: %v", err)
				return
			}
		}
	}()
	var ok, refused int
	for range 2000 {
		if err := EnsurePrivateDir(dir, os.Getuid()); err != nil {
			refused++
		} else {
			ok++
		}
	}
	close(stop)
	wg.Wait()

	if mode, _ := modeOwner(t, decoy); mode != 0o755 {
		t.Errorf("decoy mode changed to %v through the symlink (ok %d, refused %d)", mode, ok, refused)
	}
	t.Logf("%d calls accepted the real directory, %d refused the link", ok, refused)
}
