package paths

import (
	"fmt"
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

// TestEnsurePrivateDirFixesOwnerBits: bits only the owner could have set
// are put right in place; nobody else could have used the directory.
func TestEnsurePrivateDirFixesOwnerBits(t *testing.T) {
	for _, m := range []os.FileMode{0o500, 0o300, 0o700 | os.ModeSticky, 0o700 | os.ModeSetgid} {
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
			t.Errorf("mode %v set to %v, want 0700", m, got)
		}
	}
}

// TestEnsurePrivateDirRefusesLoose: a runtime directory that group or
// others could use is refused and left as it was, never chmod-ed; one
// they could write to may hold a planted vms symlink, and nothing is
// created through it.
func TestEnsurePrivateDirRefusesLoose(t *testing.T) {
	tests := []struct {
		mode os.FileMode
		want string // the end of the message: what to do
	}{
		{0o777, "group or others can write to it, so anything in it may have been planted by another user: stop bangerd, remove it (rm -rf DIR) and start banger again"},
		{0o770, "group or others can write to it, so anything in it may have been planted by another user: stop bangerd, remove it (rm -rf DIR) and start banger again"},
		{0o702, "group or others can write to it, so anything in it may have been planted by another user: stop bangerd, remove it (rm -rf DIR) and start banger again"},
		{0o1777, "group or others can write to it, so anything in it may have been planted by another user: stop bangerd, remove it (rm -rf DIR) and start banger again"},
		{0o755, "group or others can read or enter it: make it private (chmod 700 DIR) and start banger again"},
		{0o711, "group or others can read or enter it: make it private (chmod 700 DIR) and start banger again"},
		{0o740, "group or others can read or enter it: make it private (chmod 700 DIR) and start banger again"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%04o", tt.mode), func(t *testing.T) {
			parent := t.TempDir()
			dir := filepath.Join(parent, "run")
			elsewhere := filepath.Join(parent, "elsewhere")
			for _, d := range []string{dir, elsewhere} {
				if err := os.Mkdir(d, 0o700); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.Symlink(elsewhere, filepath.Join(dir, "vms")); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(dir, tt.mode&os.ModePerm|modeBits(tt.mode)); err != nil {
				t.Fatal(err)
			}
			before, _ := modeOwner(t, dir)
			err := EnsurePrivateDir(dir, os.Getuid())
			if err == nil {
				t.Fatal("EnsurePrivateDir accepted a loose directory")
			}
			want := fmt.Sprintf("runtime directory %s has mode %04o: %s", dir, uint32(before.Perm())|unixBits(before), strings.ReplaceAll(tt.want, "DIR", dir))
			if got := err.Error(); got != want {
				t.Errorf("error:\n got %s\nwant %s", got, want)
			}
			if got, want := errdefs.KindOf(err), errdefs.FailedPrecondition; got != want {
				t.Errorf("kind = %s, want %s", got, want)
			}
			if after, _ := modeOwner(t, dir); after != before {
				t.Errorf("refused directory changed mode from %v to %v", before, after)
			}
			// The layout refuses it the same way, and makes nothing
			// through the planted link.
			l := Layout{ConfigDir: filepath.Join(parent, "c"), StateDir: filepath.Join(parent, "s"), CacheDir: filepath.Join(parent, "k"), RuntimeDir: dir}
			if err := l.Ensure(os.Getuid()); err == nil {
				t.Error("Layout.Ensure accepted a loose runtime directory")
			}
			if err := l.MakePrivateDir(l.VMRuntimeDir("abc"), os.Getuid()); err == nil {
				t.Error("MakePrivateDir made a VM directory below a loose runtime directory")
			}
			if got := entries(t, elsewhere); len(got) != 0 {
				t.Errorf("created %v through the planted vms symlink", got)
			}
		})
	}
}

// modeBits converts the special bits of a test's mode literal (0o1777)
// to os.FileMode bits.
func modeBits(m os.FileMode) os.FileMode {
	var out os.FileMode
	if m&0o1000 != 0 {
		out |= os.ModeSticky
	}
	return out
}

// unixBits converts the special os.FileMode bits back to their numbers.
func unixBits(m os.FileMode) uint32 {
	var out uint32
	if m&os.ModeSticky != 0 {
		out |= 0o1000
	}
	if m&os.ModeSetgid != 0 {
		out |= 0o2000
	}
	if m&os.ModeSetuid != 0 {
		out |= 0o4000
	}
	return out
}

// entries lists the names in dir.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, de := range des {
		names = append(names, de.Name())
	}
	return names
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
	// Modes EnsurePrivateDir puts right in place (loose ones it refuses).
	for _, d := range []string{dir, decoy} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(d, 0o500); err != nil {
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

	if mode, _ := modeOwner(t, decoy); mode != 0o500 {
		t.Errorf("decoy mode changed to %v through the symlink (ok %d, refused %d)", mode, ok, refused)
	}
	t.Logf("%d calls accepted the real directory, %d refused the link", ok, refused)
}
