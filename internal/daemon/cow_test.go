package daemon

import (
	"bytes"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"banger/internal/api"
	"banger/internal/config"
	"banger/internal/cow"
	"banger/internal/testtier"
)

// With vm.disk_strategy = "loop-xfs" the daemon makes and mounts its XFS
// file, new VMs' directories go on it, root disks are clones of the
// image, and deleting a VM removes its disks.
func TestLoopXFSStrategy(t *testing.T) {
	testtier.Root(t)
	if _, err := exec.LookPath("mkfs.xfs"); err != nil {
		t.Skip("needs mkfs.xfs (apt-get install xfsprogs)")
	}
	td := startDaemon(t, daemonOpts{config: func(c *config.Config) { c.VM.DiskStrategy = "loop-xfs" }})
	t.Cleanup(func() {
		if err := cow.Unmount(td.d.cow); err != nil {
			t.Errorf("unmount: %v", err)
		}
	})
	_, body := td.do("GET", "/v1/system/info", "")
	var info api.SystemInfo
	decodeStrict(t, body, &info)
	mnt := filepath.Join(td.layout.StateDir, "cow")
	if info.DiskStrategy != "loop-xfs" || !strings.Contains(info.DiskStrategyWhy, mnt) {
		t.Errorf("system info: %q (%q), want loop-xfs mounted on %s", info.DiskStrategy, info.DiskStrategyWhy, mnt)
	}

	img := td.registerImage("base")
	resp, body := td.do("POST", "/v1/vms", smallVM("one", img.Name, false))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create: status %d: %s", resp.StatusCode, body)
	}
	var v api.VM
	decodeStrict(t, body, &v)
	if want := filepath.Join(mnt, "vms", v.ID); v.Dir != want {
		t.Errorf("VM directory %s, want %s on the XFS file", v.Dir, want)
	}
	root := filepath.Join(v.Dir, "root.ext4")
	got, err := os.ReadFile(root)
	if err != nil {
		t.Fatal(err)
	}
	orig, err := os.ReadFile(img.RootFS)
	if err != nil {
		t.Fatal(err)
	}
	// The identity files were written into the clone, not the image.
	if len(got) != len(orig) || bytes.Equal(got, orig) {
		t.Errorf("root disk: %d bytes, equal to the image: %v; want the image's size with the VM's identity written in", len(got), bytes.Equal(got, orig))
	}
	if resp, body := td.do("DELETE", "/v1/vms/one", ""); resp.StatusCode/100 != 2 {
		t.Fatalf("delete: status %d: %s", resp.StatusCode, body)
	}
	if _, err := os.Stat(v.Dir); !os.IsNotExist(err) {
		t.Errorf("after delete, stat %s: %v", v.Dir, err)
	}
}
