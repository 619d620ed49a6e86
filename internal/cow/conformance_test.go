package cow

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"banger/internal/errdefs"
	"banger/internal/testtier"
)

// imageSize is the conformance image: data at both ends and a hole between.
const imageSize = 8 << 20

// kit is one strategy under test and how to reopen it as a restarted
// daemon would.
type kit struct {
	name string
	opts Options
	s    Strategy
}

// dev is the path through which a disk's content is read and written: the
// disk itself, or for a strategy whose disks are block devices
// (Attacher), its device, attached for the rest of the test.
func (k kit) dev(t *testing.T, disk string) string {
	t.Helper()
	a, ok := k.s.(Attacher)
	if !ok {
		return disk
	}
	id := filepath.Base(filepath.Dir(disk))
	dev, err := a.Attach(context.Background(), id, disk)
	if err != nil {
		t.Fatalf("Attach(%s, %s): %v", id, disk, err)
	}
	t.Cleanup(func() {
		if err := a.Detach(id); err != nil {
			t.Errorf("Detach(%s): %v", id, err)
		}
	})
	return dev
}

// detach removes disk's device, if the strategy has devices.
func (k kit) detach(t *testing.T, disk string) {
	t.Helper()
	if a, ok := k.s.(Attacher); ok {
		if err := a.Detach(filepath.Base(filepath.Dir(disk))); err != nil {
			t.Fatalf("Detach: %v", err)
		}
	}
}

func (k kit) read(t *testing.T, disk string) []byte {
	t.Helper()
	return read(t, k.dev(t, disk))
}

func (k kit) writeAt(t *testing.T, disk string, data []byte, off int64) {
	t.Helper()
	writeAt(t, k.dev(t, disk), data, off)
}

// strategies returns every strategy this machine can run, each set up in
// its own directories and torn down (unmounted, loop device detached) when
// the test ends. Strategies that need root are skipped by testtier.
func strategies() []namedKit {
	return []namedKit{
		{NameSparse, func(t *testing.T) kit {
			opts := Options{StateDir: t.TempDir(), UID: os.Getuid(), Force: NameSparse}
			return open(t, NameSparse, opts)
		}},
		{NameQCOW2, func(t *testing.T) kit {
			needQemuImg(t)
			opts := Options{StateDir: t.TempDir(), UID: os.Getuid(), Force: NameQCOW2, Driver: DriverQEMU}
			return open(t, NameQCOW2, opts)
		}},
		{NameReflink, func(t *testing.T) kit {
			testtier.Root(t)
			needXFS(t)
			// A state directory on an XFS filesystem: reflink is probed
			// and chosen by auto.
			mnt := mountScratchXFS(t)
			opts := Options{StateDir: filepath.Join(mnt, "state"), UID: os.Getuid(), Mounter: Local{}}
			if err := os.Mkdir(opts.StateDir, 0o700); err != nil {
				t.Fatal(err)
			}
			return open(t, NameReflink, opts)
		}},
		{NameLoopXFS, func(t *testing.T) kit {
			testtier.Root(t)
			needXFS(t)
			opts := Options{StateDir: t.TempDir(), UID: os.Getuid(), Force: NameLoopXFS, Mounter: Local{}, XFSSize: 1 << 30}
			k := open(t, NameLoopXFS, opts)
			t.Cleanup(func() { unmountAll(t, opts.StateDir) })
			return k
		}},
		{NameDM, func(t *testing.T) kit {
			testtier.Root(t)
			if ok, why := DMAvailable(); !ok {
				t.Skipf("no device-mapper here (%s): TestDMInGuest runs these tests in a guest that has it", why)
			}
			dir := t.TempDir()
			prefix := testDMPrefix(t)
			opts := Options{StateDir: dir, UID: os.Getuid(), Force: NameDM, DMPrefix: prefix,
				DM: DMLocal{StateDir: dir, UID: os.Getuid()}}
			k := open(t, NameDM, opts)
			t.Cleanup(func() { checkNoDevices(t, prefix) })
			return k
		}},
	}
}

type namedKit struct {
	name string
	mk   func(t *testing.T) kit
}

func open(t *testing.T, want string, opts Options) kit {
	t.Helper()
	s, why, err := Open(context.Background(), opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", want, err)
	}
	if s.Name() != want {
		t.Fatalf("Open chose %s (%s), want %s", s.Name(), why, want)
	}
	if why == "" {
		t.Errorf("Open(%s) gave no reason", want)
	}
	return kit{name: want, opts: opts, s: s}
}

func needXFS(t *testing.T) {
	t.Helper()
	if _, err := os.Stat("/dev/loop-control"); err != nil {
		t.Skipf("no /dev/loop-control: %v", err)
	}
	if err := makeXFSProbe(); err != nil {
		t.Skipf("mkfs.xfs missing (install xfsprogs): %v", err)
	}
}

// forEach runs test against every available strategy.
func forEach(t *testing.T, test func(t *testing.T, k kit)) {
	for _, nk := range strategies() {
		t.Run(nk.name, func(t *testing.T) { test(t, nk.mk(t)) })
	}
}

// writeImage writes a sparse image: a pattern in the first and last MiB.
func writeImage(t *testing.T, k kit) string {
	t.Helper()
	dir := filepath.Join(k.opts.StateDir, "images")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "root.ext4")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(imageSize); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(bytes.Repeat([]byte("image-head "), 100000), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(bytes.Repeat([]byte("image-tail "), 1000), imageSize-11000); err != nil {
		t.Fatal(err)
	}
	return path
}

// vmDisk is where a VM's disk goes under k.
func vmDisk(t *testing.T, k kit, vm string) string {
	t.Helper()
	dir := k.s.Dir()
	if dir == "" {
		dir = filepath.Join(k.opts.StateDir, "vms")
	}
	dir = filepath.Join(dir, vm)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "root.ext4")
}

// clone clones a VM disk (a snapshot's copy), as the daemon does.
func clone(t *testing.T, k kit, src, dst string) {
	t.Helper()
	if err := CloneDisk(context.Background(), k.s, src, dst); err != nil {
		t.Fatalf("Clone(%s, %s): %v", src, dst, err)
	}
}

// cloneImage clones an image into a VM's root disk, as the daemon does.
func cloneImage(t *testing.T, k kit, img, dst string) {
	t.Helper()
	if err := CloneImage(context.Background(), k.s, img, dst); err != nil {
		t.Fatalf("CloneImage(%s, %s): %v", img, dst, err)
	}
}

// read returns the content of the disk at path: through qemu-img for a
// qcow2 overlay.
func read(t *testing.T, path string) []byte {
	t.Helper()
	if isQCOW2(t, path) {
		return readQCOW2(t, path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// writeAt writes data at off into the disk at path, as its guest would:
// through qemu-io for a qcow2 overlay.
func writeAt(t *testing.T, path string, data []byte, off int64) {
	t.Helper()
	if isQCOW2(t, path) {
		writeQCOW2(t, path, data, off)
		return
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(data, off); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
}

func TestConformanceIsolation(t *testing.T) {
	forEach(t, func(t *testing.T, k kit) {
		img := writeImage(t, k)
		orig := read(t, img)
		a, b := vmDisk(t, k, "a"), vmDisk(t, k, "b")
		cloneImage(t, k, img, a)
		cloneImage(t, k, img, b)
		if !bytes.Equal(k.read(t, a), orig) || !bytes.Equal(k.read(t, b), orig) {
			t.Fatal("a fresh clone differs from its image")
		}
		// Write over shared data and into the hole.
		k.writeAt(t, a, []byte("written-by-a"), 0)
		k.writeAt(t, a, bytes.Repeat([]byte{'a'}, 1<<20), 4<<20)
		k.writeAt(t, b, []byte("written-by-b"), imageSize-100)

		wantA := bytes.Clone(orig)
		copy(wantA, "written-by-a")
		copy(wantA[4<<20:], bytes.Repeat([]byte{'a'}, 1<<20))
		wantB := bytes.Clone(orig)
		copy(wantB[imageSize-100:], "written-by-b")
		if !bytes.Equal(read(t, img), orig) {
			t.Error("writes to clones reached the image")
		}
		if !bytes.Equal(k.read(t, a), wantA) {
			t.Error("clone a does not hold exactly its own writes")
		}
		if !bytes.Equal(k.read(t, b), wantB) {
			t.Error("clone b does not hold exactly its own writes")
		}

		// A clone of a clone (a VM disk snapshot) is isolated too.
		c := vmDisk(t, k, "c")
		clone(t, k, a, c)
		k.writeAt(t, c, []byte("written-by-c"), 0)
		if !bytes.Equal(k.read(t, a), wantA) {
			t.Error("writes to a clone of a reached a")
		}
		wantC := bytes.Clone(wantA)
		copy(wantC, "written-by-c")
		if !bytes.Equal(k.read(t, c), wantC) {
			t.Error("clone of a clone does not hold its source plus its own writes")
		}
	})
}

func TestConformanceCancelLeavesNothing(t *testing.T) {
	forEach(t, func(t *testing.T, k kit) {
		img := writeImage(t, k)
		dst := vmDisk(t, k, "a")
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := CloneImage(ctx, k.s, img, dst); !errors.Is(err, context.Canceled) {
			t.Fatalf("Clone with a cancelled context: %v, want context.Canceled", err)
		}
		entries, err := os.ReadDir(filepath.Dir(dst))
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != 0 {
			t.Errorf("a cancelled clone left %v", entries)
		}
	})
}

func TestConformanceDelete(t *testing.T) {
	forEach(t, func(t *testing.T, k kit) {
		img := writeImage(t, k)
		orig := read(t, img)
		a := vmDisk(t, k, "a")
		cloneImage(t, k, img, a)
		k.writeAt(t, a, bytes.Repeat([]byte{'a'}, 2<<20), 2<<20)
		k.detach(t, a)
		if err := k.s.Remove(a); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(a); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("after Remove, stat %s: %v", a, err)
		}
		if _, err := k.s.Usage(a); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("Usage of a removed disk: %v, want not exist", err)
		}
		if err := k.s.Remove(a); err != nil {
			t.Errorf("removing a missing disk: %v", err)
		}
		if !bytes.Equal(read(t, img), orig) {
			t.Error("deleting a clone changed the image")
		}
		// The image clones again after a delete.
		cloneImage(t, k, img, a)
		if !bytes.Equal(k.read(t, a), orig) {
			t.Error("a clone made after a delete differs from the image")
		}
	})
}

func TestConformanceUsage(t *testing.T) {
	forEach(t, func(t *testing.T, k kit) {
		img := writeImage(t, k)
		a := vmDisk(t, k, "a")
		cloneImage(t, k, img, a)
		u, err := k.s.Usage(a)
		if err != nil {
			t.Fatal(err)
		}
		if u.Apparent != imageSize {
			t.Errorf("apparent size %d, want %d", u.Apparent, imageSize)
		}
		// The hole stays a hole: 2 MiB of data, not 8.
		if u.Allocated <= 0 || u.Allocated > 4<<20 {
			t.Errorf("allocated %d, want the image's data (about 1 MiB), holes kept", u.Allocated)
		}
		k.writeAt(t, a, bytes.Repeat([]byte{'a'}, 3<<20), 4<<20)
		u2, err := k.s.Usage(a)
		if err != nil {
			t.Fatal(err)
		}
		if u2.Apparent != imageSize || u2.Allocated < u.Allocated+3<<20 {
			t.Errorf("after writing 3 MiB into the hole: %+v (was %+v)", u2, u)
		}
	})
}

func TestConformanceRestart(t *testing.T) {
	forEach(t, func(t *testing.T, k kit) {
		img := writeImage(t, k)
		a := vmDisk(t, k, "a")
		cloneImage(t, k, img, a)
		k.writeAt(t, a, []byte("before-restart"), 0)
		want := k.read(t, a)

		// A daemon killed and restarted: the old one closed nothing.
		k2 := open(t, k.name, k.opts)
		if a2, ok := k2.s.(Attacher); ok {
			// The devices outlive the daemon and the new one finds them.
			ids, err := a2.Attached()
			if err != nil || len(ids) != 1 || ids[0] != "a" {
				t.Errorf("after a restart Attached() = %v, %v, want [a]", ids, err)
			}
		}
		if !bytes.Equal(k.read(t, a), want) {
			t.Error("disk changed across a restart")
		}
		b := vmDisk(t, k2, "b")
		cloneImage(t, k2, img, b)
		if !bytes.Equal(k.read(t, b), read(t, img)) {
			t.Error("clone after restart differs from the image")
		}
		if k.name != NameLoopXFS {
			return
		}
		if n := len(loopsOf(t, filepath.Join(k.opts.StateDir, xfsFile))); n != 1 {
			t.Errorf("after a restart the XFS file backs %d loop devices, want 1", n)
		}
		// A host reboot: the mount is gone. auto finds the file and
		// remounts it, with the disks in it.
		if err := Unmount(k2.s); err != nil {
			t.Fatal(err)
		}
		auto := k.opts
		auto.Force = ""
		k3 := open(t, NameLoopXFS, auto)
		if !bytes.Equal(k.read(t, a), want) {
			t.Error("disk changed across an unmount and remount")
		}
		if got := vmDisk(t, k3, "b"); got != b {
			t.Errorf("VM disks moved across a remount: %s, was %s", got, b)
		}
	})
}

func TestOpenChoice(t *testing.T) {
	dir := t.TempDir()
	if fsName(dir) == "xfs" || fsName(dir) == "btrfs" {
		t.Skipf("the temporary directory is on %s, which clones", fsName(dir))
	}
	s, why, err := Open(context.Background(), Options{StateDir: dir, UID: os.Getuid()})
	if err != nil {
		t.Fatal(err)
	}
	if s.Name() != NameSparse || !strings.Contains(why, "loop-xfs") {
		t.Errorf("auto on %s: %s (%s), want sparse with a hint naming loop-xfs", fsName(dir), s.Name(), why)
	}
	if _, _, err := Open(context.Background(), Options{StateDir: dir, Force: NameReflink}); !errdefs.Is(err, errdefs.FailedPrecondition) {
		t.Errorf("forced reflink on %s: %v, want failed precondition", fsName(dir), err)
	}
	if _, _, err := Open(context.Background(), Options{StateDir: dir, Force: NameLoopXFS}); !errdefs.Is(err, errdefs.FailedPrecondition) || !strings.Contains(err.Error(), "root") {
		t.Errorf("loop-xfs without a mounter: %v, want failed precondition naming root", err)
	}
	if _, _, err := Open(context.Background(), Options{StateDir: dir, Force: "zfs"}); !errdefs.Is(err, errdefs.InvalidArgument) {
		t.Errorf("unknown strategy: %v, want invalid argument", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("probing left %v in the state directory", entries)
	}
}

// loop-xfs keeps one copy of each image it cloned; a restarted daemon
// drops the copies of images that were removed or replaced, and the VM
// disks cloned from them keep their data.
func TestLoopXFSPrunesCopiesOfRemovedImages(t *testing.T) {
	testtier.Root(t)
	needXFS(t)
	opts := Options{StateDir: t.TempDir(), UID: os.Getuid(), Force: NameLoopXFS, Mounter: Local{}, XFSSize: 1 << 30}
	k := open(t, NameLoopXFS, opts)
	t.Cleanup(func() { unmountAll(t, opts.StateDir) })
	img := writeImage(t, k)
	orig := read(t, img)
	a := vmDisk(t, k, "a")
	cloneImage(t, k, img, a)
	keep := filepath.Join(opts.StateDir, "images", "keep.ext4")
	if err := os.WriteFile(keep, []byte("kept image"), 0o600); err != nil {
		t.Fatal(err)
	}
	cloneImage(t, k, keep, vmDisk(t, k, "b"))
	bases := filepath.Join(opts.StateDir, xfsMount, basesDir)
	if n := len(readDir(t, bases)); n != 4 {
		t.Fatalf("%d files in %s, want 2 copies and their records", n, bases)
	}
	if err := os.Remove(img); err != nil {
		t.Fatal(err)
	}
	open(t, NameLoopXFS, opts)
	got := readDir(t, bases)
	if len(got) != 2 {
		t.Errorf("after the image was removed: %v in %s, want only the kept image's copy and record", got, bases)
	}
	if !bytes.Equal(k.read(t, a), orig) {
		t.Error("the VM disk cloned from the removed copy lost its data")
	}
}

func readDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}
