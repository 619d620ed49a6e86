package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"banger/internal/api"
	"banger/internal/config"
	"banger/internal/cow"
	"banger/internal/disk"
	"banger/internal/errdefs"
	"banger/internal/imagebuild"
	"banger/internal/paths"
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

// vm.disk_strategy = "qcow2" needs the qemu driver: the daemon refuses to
// start with Firecracker, naming the fix.
func TestQCOW2NeedsQemu(t *testing.T) {
	root := t.TempDir()
	if err := os.Chmod(root, 0o700); err != nil {
		t.Fatal(err)
	}
	layout := paths.Layout{StateDir: filepath.Join(root, "state"), RuntimeDir: filepath.Join(root, "run"), CacheDir: filepath.Join(root, "cache"), ConfigDir: filepath.Join(root, "cfg")}
	opts := testOptions(t, layout, os.Getuid(), &syncBuffer{})
	opts.Config.VM.DiskStrategy = "qcow2"
	d, err := New(context.Background(), opts)
	if err == nil {
		d.Close()
		t.Fatal("the daemon started with qcow2 and Firecracker")
	}
	if !errdefs.Is(err, errdefs.FailedPrecondition) || !strings.Contains(err.Error(), `vmm.driver = "qemu"`) {
		t.Errorf("qcow2 with Firecracker: %v, want failed precondition naming vmm.driver = \"qemu\"", err)
	}
}

// With vm.disk_strategy = "qcow2" (and qemu), a VM of an image that reads
// the identity disk gets a qcow2 overlay of the image, recorded as such;
// a VM of an image that does not gets a raw copy with its identity written
// in. (Snapshots need a running guest: e2e TestGuestQCOW2.)
func TestQCOW2Strategy(t *testing.T) {
	if _, err := exec.LookPath("qemu-img"); err != nil {
		t.Skip("needs qemu-img (apt-get install qemu-utils)")
	}
	td := startDaemon(t, daemonOpts{config: func(c *config.Config) { c.VM.DiskStrategy = "qcow2"; c.VMM.Driver = "qemu" }})
	_, body := td.do("GET", "/v1/system/info", "")
	var info api.SystemInfo
	decodeStrict(t, body, &info)
	if info.DiskStrategy != "qcow2" {
		t.Errorf("system info: %q (%q), want qcow2", info.DiskStrategy, info.DiskStrategyWhy)
	}

	plain := td.registerImage("plain")
	// An image that reads the identity disk: register one with the marker.
	ident := filepath.Join(td.root, "ident.ext4")
	makeExt4(t, ident, 16<<20)
	if err := disk.WriteFiles(context.Background(), ident, []disk.File{{Path: imagebuild.IdentityMarker, Data: []byte("1\n"), Mode: 0o644}}); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(api.RegisterImageRequest{Name: "ident", RootFS: ident, Kernel: filepath.Join(td.root, "plain.vmlinux")})
	if resp, data := td.do("POST", "/v1/images", string(b)); resp.StatusCode != http.StatusCreated {
		t.Fatalf("register: status %d: %s", resp.StatusCode, data)
	}

	for _, tc := range []struct {
		vm, image, format string
	}{{"over", "ident", cow.FormatQCOW2}, {"copy", plain.Name, cow.FormatRaw}} {
		resp, body := td.do("POST", "/v1/vms", smallVM(tc.vm, tc.image, false))
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("create %s: status %d: %s", tc.vm, resp.StatusCode, body)
		}
		var v api.VM
		decodeStrict(t, body, &v)
		root := filepath.Join(v.Dir, "root.ext4")
		if f, err := cow.Format(root); err != nil || f != tc.format {
			t.Errorf("root disk of %s: format %q, %v; want %s", tc.vm, f, err, tc.format)
		}
		out, err := exec.Command("qemu-img", "info", "--output=json", root).Output()
		if err != nil {
			t.Fatal(err)
		}
		var qi struct {
			Format  string `json:"format"`
			Backing string `json:"backing-filename"`
		}
		if err := json.Unmarshal(out, &qi); err != nil {
			t.Fatal(err)
		}
		want := map[string]string{cow.FormatQCOW2: ident, cow.FormatRaw: ""}[tc.format]
		if qi.Format != tc.format || qi.Backing != want {
			t.Errorf("qemu-img info of %s's root disk: %+v, want %s backed by %q", tc.vm, qi, tc.format, want)
		}
	}
}
