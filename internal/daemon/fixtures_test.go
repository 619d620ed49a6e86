package daemon

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"banger/internal/api"
	"banger/internal/vmm/firecracker/fctest"
)

// registerImage makes a small ext4 root filesystem and a fake kernel under
// the daemon's root and registers them as image name.
func (td *testDaemon) registerImage(name string) api.Image {
	td.t.Helper()
	if _, err := exec.LookPath("mkfs.ext4"); err != nil {
		td.t.Skip("needs mkfs.ext4 (apt-get install e2fsprogs)")
	}
	rootfs := filepath.Join(td.root, name+".ext4")
	kernel := filepath.Join(td.root, name+".vmlinux")
	makeExt4(td.t, rootfs, 16<<20)
	fctest.WriteKernel(td.t, kernel)
	body, _ := json.Marshal(api.RegisterImageRequest{Name: name, RootFS: rootfs, Kernel: kernel})
	resp, data := td.do("POST", "/v1/images", string(body))
	if resp.StatusCode != http.StatusCreated {
		td.t.Fatalf("register image %s: status %d: %s", name, resp.StatusCode, data)
	}
	var img api.Image
	decodeStrict(td.t, data, &img)
	return img
}

func makeExt4(t *testing.T, path string, size int64) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", path).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4: %v\n%s", err, out)
	}
}

// smallVM is a create request for the smallest VM the limits allow.
func smallVM(name, image string, start bool) string {
	b, _ := json.Marshal(api.CreateVMRequest{Name: name, Image: image, VCPUs: 1, MemoryMiB: 128,
		DiskBytes: 256 << 20, Start: start})
	return string(b)
}
