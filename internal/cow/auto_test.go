package cow

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"banger/internal/errdefs"
	"banger/internal/testtier"
)

// helperMounter stands for the root helper, in-process: it agrees to
// mount on auto unless refuse is set (a helper without --cow-dir, or none
// at all), and mounts with Local unless failMount is set.
type helperMounter struct {
	Local
	refuse, failMount error

	mu     sync.Mutex
	asked  int
	mounts int
}

func (m *helperMounter) MountsOnAuto(file, dir string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.asked++
	return m.refuse
}

func (m *helperMounter) MountXFS(file, dir string) error {
	m.mu.Lock()
	m.mounts++
	m.mu.Unlock()
	if m.failMount != nil {
		return m.failMount
	}
	return m.Local.MountXFS(file, dir)
}

// An unprivileged daemon whose root helper was started with --cow-dir
// gets loop-xfs from auto on a state directory that cannot clone: the
// XFS file is made and mounted through the helper, and a restarted daemon
// finds the mount and neither remakes nor remounts it.
func TestAutoMakesLoopXFSThroughTheHelper(t *testing.T) {
	testtier.Root(t)
	needXFS(t)
	dir := t.TempDir()
	if fsName(dir) == "xfs" || fsName(dir) == "btrfs" {
		t.Skipf("the temporary directory is on %s, which clones", fsName(dir))
	}
	m := &helperMounter{}
	opts := Options{StateDir: dir, UID: os.Getuid(), Mounter: m, XFSSize: 1 << 30, Driver: DriverQEMU}
	first, why, err := Open(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unmountAll(t, dir) })
	if first.Name() != NameLoopXFS || !strings.Contains(why, "root helper") {
		t.Fatalf("auto with the helper's consent: %s (%q), want loop-xfs through the root helper", first.Name(), why)
	}
	k := kit{name: NameLoopXFS, opts: opts, s: first}
	s, why, err := Open(context.Background(), opts)
	if err != nil || s.Name() != NameLoopXFS || !strings.Contains(why, "is mounted on") {
		t.Errorf("restart: %v (%q), %v; want loop-xfs found mounted", s, why, err)
	}
	if m.asked != 1 || m.mounts != 1 {
		t.Errorf("the helper was asked %d times and mounted %d times over two starts, want 1 and 1", m.asked, m.mounts)
	}
	if n := len(loopsOf(t, filepath.Join(dir, xfsFile))); n != 1 {
		t.Errorf("the XFS file backs %d loop devices, want 1", n)
	}
	img := writeImage(t, k)
	a := vmDisk(t, k, "a")
	cloneImage(t, k, img, a)
	if !strings.HasPrefix(a, filepath.Join(dir, xfsMount)+"/") {
		t.Errorf("VM disk %s is not on the XFS file", a)
	}
}

// When the helper will not mount (no helper, or one without --cow-dir),
// auto falls back to qcow2 under qemu and to sparse copies otherwise,
// saying why loop-xfs was not chosen, and makes nothing.
func TestAutoFallsBackWhenTheHelperRefuses(t *testing.T) {
	dir := t.TempDir()
	if fsName(dir) == "xfs" || fsName(dir) == "btrfs" {
		t.Skipf("the temporary directory is on %s, which clones", fsName(dir))
	}
	refusal := errdefs.FailedPreconditionf("this root helper mounts no XFS file for banger's disks: restart it with --cow-dir")
	for driver, want := range map[string]string{DriverQEMU: NameQCOW2, "firecracker": NameSparse} {
		m := &helperMounter{refuse: refusal}
		s, why, err := Open(context.Background(), Options{StateDir: dir, UID: os.Getuid(), Mounter: m, Driver: driver})
		if err != nil || s.Name() != want || !strings.Contains(why, "--cow-dir") || !strings.Contains(why, "loop-xfs is not available") {
			t.Errorf("%s: %v (%q), %v; want %s saying why not loop-xfs", driver, s, why, err, want)
		}
		if m.mounts != 0 {
			t.Errorf("%s: the helper was asked to mount", driver)
		}
	}
	if entries := readDir(t, dir); len(entries) != 0 {
		t.Errorf("the state directory holds %v", entries)
	}
}

// When the helper agrees but the mount fails (a helper in another mount
// namespace, a kernel without XFS), auto falls back saying so, and the
// file it made is removed: the next start falls back the same way
// instead of insisting on a file it cannot mount.
func TestAutoFallsBackWhenTheMountFails(t *testing.T) {
	needXFS(t)
	dir := t.TempDir()
	if fsName(dir) == "xfs" || fsName(dir) == "btrfs" {
		t.Skipf("the temporary directory is on %s, which clones", fsName(dir))
	}
	m := &helperMounter{failMount: errors.New("mount: unknown filesystem type 'xfs'")}
	opts := Options{StateDir: dir, UID: os.Getuid(), Mounter: m, XFSSize: 1 << 30, Driver: DriverQEMU}
	for start := range 2 {
		s, why, err := Open(context.Background(), opts)
		if err != nil || s.Name() != NameQCOW2 || !strings.Contains(why, "loop-xfs failed") || !strings.Contains(why, "unknown filesystem type") {
			t.Errorf("start %d: %v (%q), %v; want qcow2 saying the mount failed", start, s, why, err)
		}
		if entries := readDir(t, dir); len(entries) != 0 {
			t.Errorf("start %d: the state directory holds %v", start, entries)
		}
	}
}
