package cow

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"banger/internal/errdefs"
	"banger/internal/testtier"
)

// The XFS file and mount point are only ever banger's own: a symlink, a
// file of another user, a group-writable file or a foreign filesystem on
// the mount point are refused, and nothing is mounted.
func TestLoopXFSRefusesPlantedFiles(t *testing.T) {
	cases := []struct {
		name  string
		plant func(t *testing.T, state string)
		want  string
	}{
		{"symlink", func(t *testing.T, state string) {
			target := filepath.Join(t.TempDir(), "elsewhere.xfs")
			if err := makeXFS(context.Background(), target, minXFSSize, -1, -1); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(target, filepath.Join(state, xfsFile)); err != nil {
				t.Fatal(err)
			}
		}, "not a regular file"},
		{"other owner", func(t *testing.T, state string) {
			f := filepath.Join(state, xfsFile)
			if err := makeXFS(context.Background(), f, minXFSSize, -1, -1); err != nil {
				t.Fatal(err)
			}
			if err := os.Chown(f, 65534, 65534); err != nil {
				t.Fatal(err)
			}
		}, "not owned by"},
		{"group writable", func(t *testing.T, state string) {
			f := filepath.Join(state, xfsFile)
			if err := makeXFS(context.Background(), f, minXFSSize, -1, -1); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(f, 0o660); err != nil {
				t.Fatal(err)
			}
		}, "writable by others"},
		{"foreign mount", func(t *testing.T, state string) {
			f := filepath.Join(state, xfsFile)
			if err := makeXFS(context.Background(), f, minXFSSize, -1, -1); err != nil {
				t.Fatal(err)
			}
			// Another XFS file mounted where banger's goes.
			other := filepath.Join(t.TempDir(), "other.xfs")
			if err := makeXFS(context.Background(), other, minXFSSize, -1, -1); err != nil {
				t.Fatal(err)
			}
			mnt := filepath.Join(state, xfsMount)
			if err := os.Mkdir(mnt, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := (Local{}).MountXFS(other, mnt); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				if err := (Local{}).UnmountXFS(other, mnt); err != nil {
					t.Error(err)
				}
			})
		}, "not banger's XFS file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			testtier.Root(t)
			needXFS(t)
			state := t.TempDir()
			tc.plant(t, state)
			mountsBefore := countMounts(t)
			_, _, err := Open(context.Background(), Options{StateDir: state, UID: os.Getuid(), Force: NameLoopXFS, Mounter: Local{}, XFSSize: 1 << 30})
			if !errdefs.Is(err, errdefs.FailedPrecondition) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Open: %v, want failed precondition saying %q", err, tc.want)
			}
			if n := countMounts(t); n != mountsBefore {
				t.Errorf("mounts went from %d to %d", mountsBefore, n)
			}
			if loops := loopsLeft(t, filepath.Join(state, xfsFile)); len(loops) != 0 {
				t.Errorf("loop devices %v attached to the refused file", loops)
			}
		})
	}
}

func countMounts(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), "\n")
}

// A file attached to a loop device but not mounted here (mounted in
// another mount namespace) is not mounted a second time.
func TestLoopXFSRefusesFileAttachedElsewhere(t *testing.T) {
	testtier.Root(t)
	needXFS(t)
	state := t.TempDir()
	file := filepath.Join(state, xfsFile)
	if err := makeXFS(context.Background(), file, minXFSSize, -1, -1); err != nil {
		t.Fatal(err)
	}
	dev, err := attachLoop(file)
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close() // autoclear detaches it
	_, _, err = Open(context.Background(), Options{StateDir: state, UID: os.Getuid(), Mounter: Local{}})
	if !errdefs.Is(err, errdefs.FailedPrecondition) || !strings.Contains(err.Error(), "another mount namespace") {
		t.Fatalf("Open: %v, want failed precondition naming another mount namespace", err)
	}
	if _, ok, _ := findMount(filepath.Join(state, xfsMount)); ok {
		t.Error("the file was mounted a second time")
	}
}

// lostMounter claims to mount but mounts nothing, as a root helper in
// another mount namespace appears to.
type lostMounter struct{}

func (lostMounter) MountXFS(file, dir string) error   { return nil }
func (lostMounter) UnmountXFS(file, dir string) error { return nil }

// A mount the daemon cannot see is an error, not a directory written to
// under the mount point.
func TestLoopXFSMountNotSeen(t *testing.T) {
	if err := makeXFSProbe(); err != nil {
		t.Skipf("mkfs.xfs missing (install xfsprogs): %v", err)
	}
	state := t.TempDir()
	_, _, err := Open(context.Background(), Options{StateDir: state, UID: os.Getuid(), Force: NameLoopXFS, Mounter: lostMounter{}, XFSSize: minXFSSize})
	if !errdefs.Is(err, errdefs.FailedPrecondition) || !strings.Contains(err.Error(), "mount namespace") {
		t.Fatalf("Open: %v, want failed precondition naming the mount namespace", err)
	}
	if entries, _ := os.ReadDir(filepath.Join(state, xfsMount)); len(entries) != 0 {
		t.Errorf("wrote %v under the unmounted mount point", entries)
	}
}
