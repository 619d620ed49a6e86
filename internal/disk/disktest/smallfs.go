// Package disktest gives tests a small filesystem of their own to fill
// or to clone in: a fresh ext4 (or XFS, which shares blocks between
// reflink clones) file attached to a loop device and mounted in a
// temporary directory, unmounted and detached when the test ends. It needs root
// (the caller marks the test testtier.Root) and must not touch any other
// mount or loop device.
package disktest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// SmallFS mounts a fresh ext4 filesystem of size bytes, with no blocks
// reserved for root (so what statfs calls available is what a root
// process can write), and returns its mount point.
func SmallFS(t testing.TB, size int64) string {
	t.Helper()
	return smallFS(t, size, "e2fsprogs", "mkfs.ext4", "-q", "-F", "-m", "0")
}

// SmallXFS mounts a fresh XFS filesystem of size bytes (at least 300 MiB,
// XFS's minimum) with reflink on, and returns its mount point.
func SmallXFS(t testing.TB, size int64) string {
	t.Helper()
	return smallFS(t, size, "xfsprogs", "mkfs.xfs", "-q", "-f", "-m", "reflink=1")
}

// smallFS makes a file of size bytes, runs the mkfs command on it (the
// file is its last argument; pkg is the apt package that has it) and
// mounts it over a loop device.
func smallFS(t testing.TB, size int64, pkg string, mkfs ...string) string {
	t.Helper()
	for _, tool := range []string{mkfs[0], "losetup", "mount", "umount"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s (apt-get install %s mount)", tool, pkg)
		}
	}
	dir := t.TempDir()
	img := filepath.Join(dir, "fs.img")
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, size); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(mkfs[0], append(mkfs[1:], img)...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", mkfs[0], err, out)
	}
	out, err := exec.Command("losetup", "--find", "--show", img).Output()
	if err != nil {
		t.Skipf("cannot attach a loop device: %v", err)
	}
	dev := strings.TrimSpace(string(out))
	t.Cleanup(func() {
		if out, err := exec.Command("losetup", "-d", dev).CombinedOutput(); err != nil {
			t.Errorf("detach %s: %v\n%s", dev, err, out)
		}
	})
	mnt := filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", dev, mnt).CombinedOutput(); err != nil {
		t.Fatalf("mount %s: %v\n%s", dev, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v\n%s", mnt, err, out)
		}
	})
	return mnt
}
