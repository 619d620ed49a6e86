package cow

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"banger/internal/errdefs"
	"banger/internal/testtier"
)

// testDMPrefix is a device name prefix of this test alone, so that the
// test never touches a device it did not make.
func testDMPrefix(t *testing.T) string {
	t.Helper()
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return DMPrefix + "t" + hex.EncodeToString(b) + "-"
}

// checkNoDevices fails the test if a device named with prefix is left,
// and removes it.
func checkNoDevices(t *testing.T, prefix string) {
	t.Helper()
	names, err := dmList()
	if err != nil {
		t.Errorf("list devices: %v", err)
		return
	}
	for _, n := range names {
		if strings.HasPrefix(n, prefix) {
			t.Errorf("device %s left behind", n)
			dmRemove(n)
			removeDMNode(n)
		}
	}
}

func needDM(t *testing.T) {
	t.Helper()
	testtier.Root(t)
	if ok, why := DMAvailable(); !ok {
		t.Skipf("no device-mapper here (%s): TestDMInGuest runs this test in a guest that has it", why)
	}
}

// dmKit opens the dm strategy on a new state directory.
func dmKit(t *testing.T) (kit, string) {
	t.Helper()
	dir := t.TempDir()
	prefix := testDMPrefix(t)
	opts := Options{StateDir: dir, UID: os.Getuid(), Force: NameDM, DMPrefix: prefix, DM: DMLocal{StateDir: dir, UID: os.Getuid()}}
	k := open(t, NameDM, opts)
	t.Cleanup(func() { checkNoDevices(t, prefix) })
	return k, prefix
}

// A daemon that crashed left its devices: the next one lists them (and
// only its own), and Detach removes them with their loop devices.
func TestDMCrashLeavesDevicesFound(t *testing.T) {
	needDM(t)
	k, prefix := dmKit(t)
	other, _ := dmKit(t) // another state directory's devices are not ours
	img := writeImage(t, k)
	a := vmDisk(t, k, "a")
	clone(t, k, img, a)
	dev, err := k.s.(Attacher).Attach(context.Background(), "a", a)
	if err != nil {
		t.Fatal(err)
	}
	if dev != "/dev/mapper/"+prefix+"a" {
		t.Errorf("device %s, want /dev/mapper/%sa", dev, prefix)
	}
	writeAt(t, dev, []byte("before-crash"), 0)
	oimg := writeImage(t, other)
	ob := vmDisk(t, other, "b")
	clone(t, other, oimg, ob)
	if _, err := other.s.(Attacher).Attach(context.Background(), "b", ob); err != nil {
		t.Fatal(err)
	}

	k2 := open(t, NameDM, k.opts) // the daemon restarted
	ids, err := k2.s.(Attacher).Attached()
	if err != nil || len(ids) != 1 || ids[0] != "a" {
		t.Fatalf("Attached() after a crash = %v, %v, want [a] (not the other state directory's b)", ids, err)
	}
	// Attaching again gives the same device with the same data.
	dev2, err := k2.s.(Attacher).Attach(context.Background(), "a", a)
	if err != nil || dev2 != dev {
		t.Fatalf("Attach again: %s, %v, want %s", dev2, err, dev)
	}
	if got := read(t, dev2)[:12]; string(got) != "before-crash" {
		t.Errorf("device after a restart reads %q", got)
	}
	// Removing the other state directory's device by name is refused.
	if err := (DMLocal{StateDir: k.opts.StateDir, UID: os.Getuid()}).DetachDM(other.opts.DMPrefix + "b"); !errdefs.Is(err, errdefs.FailedPrecondition) {
		t.Errorf("detach another state directory's device: %v, want failed precondition", err)
	}
	for _, d := range []struct {
		k  kit
		id string
	}{{k2, "a"}, {other, "b"}} {
		if err := d.k.s.(Attacher).Detach(d.id); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Lstat(dev); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("node %s after Detach: %v", dev, err)
	}
	if loops := loopsLeft(t, a); len(loops) != 0 {
		t.Errorf("loop devices %v still back %s", loops, a)
	}
}

// The checks of the root helper's side: names, paths and files.
func TestDMAttachChecked(t *testing.T) {
	needDM(t)
	k, prefix := dmKit(t)
	img := writeImage(t, k)
	a := vmDisk(t, k, "a")
	clone(t, k, img, a)
	dir := k.opts.StateDir
	outside := filepath.Join(t.TempDir(), "outside.img")
	if err := os.WriteFile(outside, bytes.Repeat([]byte{1}, 1<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "vms", "a", "link.ext4")
	if err := os.Symlink(outside, link); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(link+originSuffix, []byte(img), 0o600); err != nil {
		t.Fatal(err)
	}
	// A disk whose origin record names a file outside the state directory.
	evil := vmDisk(t, k, "evil")
	if err := os.WriteFile(evil, make([]byte, 1<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(evil+originSuffix, []byte(outside), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, disk string
		kind       errdefs.Kind
	}{
		{"dm-0", a, errdefs.InvalidArgument},
		{"vg-root", a, errdefs.InvalidArgument},
		{DMPrefix, a, errdefs.InvalidArgument},
		{prefix + "../x", a, errdefs.InvalidArgument},
		{prefix + strings.Repeat("x", 100), a, errdefs.InvalidArgument},
		{prefix + "x", outside, errdefs.InvalidArgument},
		{prefix + "x", dir + "/vms/../../" + filepath.Base(filepath.Dir(outside)), errdefs.InvalidArgument},
		{prefix + "x", link, errdefs.FailedPrecondition},
		{prefix + "x", evil, errdefs.InvalidArgument},
	} {
		_, err := AttachChecked(dir, os.Getuid(), c.name, c.disk)
		if !errdefs.Is(err, c.kind) {
			t.Errorf("AttachChecked(%q, %q) = %v, want %v", c.name, c.disk, err, c.kind)
		}
	}
	// Another user's state directory.
	if _, err := AttachChecked(dir, os.Getuid()+1, prefix+"a", a); !errdefs.Is(err, errdefs.FailedPrecondition) {
		t.Errorf("AttachChecked for another uid: %v, want failed precondition", err)
	}
	if err := DetachChecked(dir, os.Getuid(), "dm-0"); !errdefs.Is(err, errdefs.InvalidArgument) {
		t.Errorf("DetachChecked(dm-0): %v, want invalid argument", err)
	}
}

// BenchmarkDMClone is the root disk clone figure of the dm strategy (as
// internal/bench's BenchmarkRootDiskClone has for the others), for hosts
// without device-mapper: TestDMInGuest runs it in its guest. The image is
// 8 GiB apparent with 64 MiB of data; a dm clone writes no data, so its
// cost does not depend on the image's.
func BenchmarkDMClone(b *testing.B) {
	testtier.Root(b)
	if ok, why := DMAvailable(); !ok {
		b.Skipf("no device-mapper here (%s)", why)
	}
	ctx := context.Background()
	dir := b.TempDir()
	img := filepath.Join(dir, "image.ext4")
	f, err := os.Create(img)
	if err != nil {
		b.Fatal(err)
	}
	if err := f.Truncate(8 << 30); err != nil {
		b.Fatal(err)
	}
	chunk := bytes.Repeat([]byte{7}, 1<<20)
	for i := range 64 {
		if _, err := f.WriteAt(chunk, int64(i)*(128<<20)); err != nil {
			b.Fatal(err)
		}
	}
	f.Close()
	s, _, err := Open(ctx, Options{StateDir: dir, UID: os.Getuid(), Force: NameDM, DM: DMLocal{StateDir: dir, UID: os.Getuid()}, DMPrefix: DMPrefix + "bench-"})
	if err != nil {
		b.Fatal(err)
	}
	a := s.(Attacher)
	var clone, attach []time.Duration
	for i := range b.N {
		disk := filepath.Join(dir, fmt.Sprintf("vm%d.ext4", i))
		start := time.Now()
		if err := s.Clone(ctx, img, disk); err != nil {
			b.Fatal(err)
		}
		clone = append(clone, time.Since(start))
		start = time.Now()
		if _, err := a.Attach(ctx, "b", disk); err != nil {
			b.Fatal(err)
		}
		if err := a.Detach("b"); err != nil {
			b.Fatal(err)
		}
		attach = append(attach, time.Since(start))
	}
	med := func(ds []time.Duration) float64 {
		slices.Sort(ds)
		return float64(ds[len(ds)/2]) / float64(time.Microsecond)
	}
	b.ReportMetric(med(clone), "clone-p50-µs")
	b.ReportMetric(med(attach), "attach+detach-p50-µs")
}

// A dm clone of an image links the image as its origin only when the
// root helper would accept it (the state directory owner's, writable by
// no one else); otherwise the origin is a copy given to that owner. Clone
// needs no device-mapper: it runs on any host.
func TestDMCloneOrigin(t *testing.T) {
	testtier.Root(t) // images of other users
	const owner = 4711
	dir := t.TempDir()
	if err := os.Chown(dir, owner, owner); err != nil {
		t.Fatal(err)
	}
	d := &dmSnap{stateDir: dir, uid: owner, prefix: DMPrefix}
	for _, c := range []struct {
		name string
		uid  int
		mode os.FileMode
		link bool
	}{
		{"owned", owner, 0o644, true},
		{"another user's", 0, 0o644, false},
		{"writable by others", owner, 0o666, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			img := filepath.Join(t.TempDir(), "image.ext4")
			if err := os.WriteFile(img, bytes.Repeat([]byte(c.name), 1000), c.mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(img, c.mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chown(img, c.uid, c.uid); err != nil {
				t.Fatal(err)
			}
			vm := filepath.Join(dir, "vms", strings.ReplaceAll(c.name, " ", "-"))
			if err := os.MkdirAll(vm, 0o700); err != nil {
				t.Fatal(err)
			}
			disk := filepath.Join(vm, "root.ext4")
			if err := d.Clone(context.Background(), img, disk); err != nil {
				t.Fatal(err)
			}
			origin, err := os.ReadFile(disk + originSuffix)
			if err != nil {
				t.Fatal(err)
			}
			oi, err := os.Stat(string(origin))
			if err != nil {
				t.Fatal(err)
			}
			ii, _ := os.Stat(img)
			if os.SameFile(oi, ii) != c.link {
				t.Errorf("origin %s is the image itself: %t, want %t", origin, os.SameFile(oi, ii), c.link)
			}
			for _, p := range []string{string(origin), disk, disk + originSuffix} {
				fi, err := os.Stat(p)
				if err != nil {
					t.Fatal(err)
				}
				if st := fi.Sys().(*syscall.Stat_t); int(st.Uid) != owner || fi.Mode().Perm()&0o022 != 0 {
					t.Errorf("%s: uid %d mode %v, want uid %d and writable by no one else", p, st.Uid, fi.Mode().Perm(), owner)
				}
			}
			if !bytes.Equal(read(t, string(origin)), read(t, img)) {
				t.Error("the origin differs from the image")
			}
			u, err := d.Usage(disk)
			if err != nil || u.Apparent != ii.Size() {
				t.Errorf("Usage = %+v, %v; want the image's size %d", u, err, ii.Size())
			}
		})
	}
}

// Where device-mapper cannot make devices, "dm" is refused with why, and
// auto says why it did not pick it.
func TestOpenDMUnusable(t *testing.T) {
	if ok, _ := DMAvailable(); ok {
		t.Skip("device-mapper is usable here")
	}
	dir := t.TempDir()
	if _, _, err := Open(context.Background(), Options{StateDir: dir, UID: os.Getuid(), Force: NameDM}); !errdefs.Is(err, errdefs.FailedPrecondition) || !strings.Contains(err.Error(), "root") {
		t.Errorf("dm without a device maker: %v, want failed precondition naming root", err)
	}
	_, _, err := Open(context.Background(), Options{StateDir: dir, UID: os.Getuid(), Force: NameDM, DM: DMLocal{StateDir: dir, UID: os.Getuid()}})
	if !errdefs.Is(err, errdefs.FailedPrecondition) || !strings.Contains(err.Error(), "device-mapper") && !strings.Contains(err.Error(), "/dev/mapper/control") {
		t.Errorf("dm on a host without device-mapper: %v, want failed precondition saying why", err)
	}
	if fsName(dir) == "xfs" || fsName(dir) == "btrfs" {
		return
	}
	s, why, err := Open(context.Background(), Options{StateDir: dir, UID: os.Getuid(), DM: DMLocal{StateDir: dir, UID: os.Getuid()}})
	if err != nil || s.Name() != NameSparse || !strings.Contains(why, "device-mapper is unusable") {
		t.Errorf("auto: %v (%s), %v; want sparse saying why not dm", s, why, err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("probing left %v in the state directory", entries)
	}
}
