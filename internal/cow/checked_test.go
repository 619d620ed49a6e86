package cow

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"banger/internal/errdefs"
	"banger/internal/testtier"
)

// daemonUID is the unprivileged daemon's uid in these tests.
const daemonUID = 65534

// helperState makes a state directory as an unprivileged daemon would
// leave it for the root helper: owned by daemonUID, with its XFS file and
// mount point.
func helperState(t *testing.T) string {
	t.Helper()
	state := filepath.Join(t.TempDir(), "state")
	if err := os.Mkdir(state, 0o700); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(state, xfsFile)
	if err := makeXFS(context.Background(), file, minXFSSize, daemonUID, daemonUID); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(state, xfsMount), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{state, file, filepath.Join(state, xfsMount)} {
		if err := os.Chown(p, daemonUID, daemonUID); err != nil {
			t.Fatal(err)
		}
	}
	return state
}

func TestMountCheckedForAnUnprivilegedDaemon(t *testing.T) {
	testtier.Root(t)
	needXFS(t)
	state := helperState(t)
	mnt := filepath.Join(state, xfsMount)
	if err := MountChecked(state, daemonUID); err != nil {
		t.Fatal(err)
	}
	m, ok, err := findMount(mnt)
	if err != nil || !ok {
		t.Fatalf("not mounted: %v", err)
	}
	if err := checkMount(m, filepath.Join(state, xfsFile), mnt); err != nil {
		t.Error(err)
	}
	var st unix.Stat_t
	if err := unix.Stat(mnt, &st); err != nil || st.Uid != daemonUID {
		t.Errorf("the mounted filesystem's root: uid %d (%v), want %d so the daemon can use it", st.Uid, err, daemonUID)
	}
	if err := MountChecked(state, daemonUID); !errdefs.Is(err, errdefs.FailedPrecondition) {
		t.Errorf("mounting twice: %v, want failed precondition", err)
	}
	if err := UnmountChecked(state, daemonUID); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := findMount(mnt); ok {
		t.Error("still mounted after UnmountChecked")
	}
	if loops := loopsLeft(t, filepath.Join(state, xfsFile)); len(loops) != 0 {
		t.Errorf("loop devices %v left", loops)
	}
	if err := UnmountChecked(state, daemonUID); err != nil {
		t.Errorf("unmounting what is not mounted: %v", err)
	}
}

// What the daemon's user controls (the state directory and everything in
// it) cannot make the helper mount anything else, anywhere else.
func TestMountCheckedRefusals(t *testing.T) {
	cases := []struct {
		name  string
		plant func(t *testing.T, state string) string // returns the state dir to pass
		want  string
	}{
		{"unclean path", func(t *testing.T, state string) string { return state + "/../state" }, "clean"},
		{"state dir of another user", func(t *testing.T, state string) string {
			if err := os.Chown(state, 0, 0); err != nil {
				t.Fatal(err)
			}
			return state
		}, "must belong to uid"},
		{"state dir is a symlink", func(t *testing.T, state string) string {
			link := state + "-link"
			if err := os.Symlink(state, link); err != nil {
				t.Fatal(err)
			}
			return link
		}, "open state directory"},
		{"file is a symlink", func(t *testing.T, state string) string {
			file := filepath.Join(state, xfsFile)
			other := filepath.Join(state, "other.xfs")
			if err := os.Rename(file, other); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(other, file); err != nil {
				t.Fatal(err)
			}
			return state
		}, "symlink"},
		{"file of root", func(t *testing.T, state string) string {
			if err := os.Chown(filepath.Join(state, xfsFile), 0, 0); err != nil {
				t.Fatal(err)
			}
			return state
		}, "owned by uid 0"},
		{"file with two links", func(t *testing.T, state string) string {
			if err := os.Link(filepath.Join(state, xfsFile), filepath.Join(state, "second")); err != nil {
				t.Fatal(err)
			}
			return state
		}, "links"},
		{"mount point is a symlink", func(t *testing.T, state string) string {
			mnt := filepath.Join(state, xfsMount)
			if err := os.Remove(mnt); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink("/mnt", mnt); err != nil {
				t.Fatal(err)
			}
			return state
		}, "symlink"},
		{"mount point of root", func(t *testing.T, state string) string {
			if err := os.Chown(filepath.Join(state, xfsMount), 0, 0); err != nil {
				t.Fatal(err)
			}
			return state
		}, "owned by uid 0"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			testtier.Root(t)
			needXFS(t)
			state := helperState(t)
			arg := tc.plant(t, state)
			before := countMounts(t)
			err := MountChecked(arg, daemonUID)
			if err == nil {
				_ = UnmountChecked(state, daemonUID)
				t.Fatal("mounted")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("MountChecked: %v, want an error saying %q", err, tc.want)
			}
			if n := countMounts(t); n != before {
				t.Errorf("mounts went from %d to %d", before, n)
			}
			if loops := loopsLeft(t, filepath.Join(state, xfsFile)); len(loops) != 0 {
				t.Errorf("loop devices %v attached", loops)
			}
		})
	}
}

// UnmountChecked unmounts only the state directory's own XFS file.
func TestUnmountCheckedRefusesForeignMount(t *testing.T) {
	testtier.Root(t)
	needXFS(t)
	state := helperState(t)
	mnt := filepath.Join(state, xfsMount)
	if err := unix.Mount("tmpfs", mnt, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Unmount(mnt, 0) })
	if err := UnmountChecked(state, daemonUID); !errdefs.Is(err, errdefs.FailedPrecondition) {
		t.Fatalf("UnmountChecked of a tmpfs: %v, want failed precondition", err)
	}
	if _, ok, _ := findMount(mnt); !ok {
		t.Error("the foreign mount was unmounted")
	}
}
