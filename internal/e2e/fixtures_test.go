package e2e

import (
	"os"
	"os/exec"
	"testing"

	"banger/internal/vmm/firecracker/fctest"
)

// vmFlags are the sizes of the VMs the tests create: the smallest the
// daemon accepts, and sparse, so they cost almost nothing.
var vmFlags = []string{"--memory", "128M", "--disk-size", "256M"}

// needMkfs skips the test when mkfs.ext4 is missing.
func needMkfs(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("mkfs.ext4"); err != nil {
		t.Skip("needs mkfs.ext4 (e2fsprogs) to build a root filesystem and work disks")
	}
}

// writeRootFS makes a 16 MiB ext4 file system at path.
func writeRootFS(t *testing.T, path string) {
	t.Helper()
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatalf("create rootfs: %v", err)
	}
	if err := os.Truncate(path, 16<<20); err != nil {
		t.Fatalf("size rootfs: %v", err)
	}
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", path).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4 %s: %v\n%s", path, err, out)
	}
}

// registerImage writes a rootfs and kernel and registers them as the
// image "default".
func (w *world) registerImage() {
	w.t.Helper()
	needMkfs(w.t)
	rootfs, kernel := w.path("files/root.ext4"), w.path("files/vmlinux")
	writeRootFS(w.t, rootfs)
	fctest.WriteKernel(w.t, kernel)
	w.mustBanger("image", "register", "--name", "default", "--rootfs", rootfs, "--kernel", kernel)
}
