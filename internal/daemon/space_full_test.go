package daemon

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"

	"banger/internal/api"
	"banger/internal/disk"
	"banger/internal/disk/disktest"
	"banger/internal/errdefs"
	"banger/internal/testtier"
	"banger/internal/vmm/firecracker/fctest"
)

// TestCreateUntilTheDiskIsFull runs a real daemon (fake VMM) whose state
// and cache directories live on a 32 MiB filesystem and creates VMs until
// one does not fit: that create is refused before it starts, naming what
// it needs and what is free, and leaves nothing behind; the earlier VMs
// are intact. Then, with the free space set just above what the check can
// know is needed but below what the disks take, a create passes the check,
// runs out of room while writing, and rolls back; once space is freed a
// create works again.
func TestCreateUntilTheDiskIsFull(t *testing.T) {
	testtier.Root(t)
	mnt := disktest.SmallFS(t, 32<<20)
	td := startDaemon(t, daemonOpts{stateRoot: mnt})
	img := td.registerDataImage("default", 6<<20)

	var made []string
	for i := 0; ; i++ {
		if i == 30 {
			t.Fatalf("30 VMs fit on a 32 MiB filesystem: the disks are not what this test thinks")
		}
		name := fmt.Sprintf("vm%d", i)
		resp, body := td.do("POST", "/v1/vms", smallVM(name, img.Name, false))
		if resp.StatusCode == http.StatusCreated {
			made = append(made, name)
			continue
		}
		e := td.checkAPIError(resp, body, errdefs.FailedPrecondition)
		for _, want := range []string{"creating VM " + name, "needs", "is free", "banger vm prune"} {
			if !strings.Contains(e.Message, want) {
				t.Errorf("refusal %q does not say %q", e.Message, want)
			}
		}
		break
	}
	if len(made) < 2 {
		t.Fatalf("only %d VMs were made before the disk was full", len(made))
	}
	t.Logf("%d VMs fit", len(made))
	td.checkStoreMatches(made)

	// Free one VM's room, then take all but a little more than what the
	// check knows a create needs (the root disk's blocks plus the least a
	// work disk takes): the check passes, and an 8 GiB work disk (about 4
	// MiB of ext4 metadata) does not fit.
	last := made[len(made)-1]
	if resp, body := td.do("DELETE", "/v1/vms/"+last, ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("delete %s: %d %s", last, resp.StatusCode, body)
	}
	made = made[:len(made)-1]
	root, err := disk.UsageOf(img.RootFS)
	if err != nil {
		t.Fatal(err)
	}
	need := root.Allocated + 256<<10
	free, err := disk.FreeSpace(td.layout.StateDir)
	if err != nil {
		t.Fatal(err)
	}
	filler := filepath.Join(mnt, "filler")
	allocateFile(t, filler, free.Available-need-(256<<10))
	late, _ := json.Marshal(api.CreateVMRequest{Name: "late", Image: img.Name, VCPUs: 1, MemoryMiB: 128, DiskBytes: 8 << 30})
	resp, body := td.do("POST", "/v1/vms", string(late))
	e := td.checkAPIError(resp, body, errdefs.FailedPrecondition)
	if !strings.Contains(e.Message, "the VM was not created: free some space") {
		t.Errorf("error of the create that ran out of room: %q", e.Message)
	}
	td.checkStoreMatches(made)
	ops := td.operations()
	if o := ops[0]; o.Kind != "vm.create" || o.State != "rolled_back" {
		t.Errorf("the create that ran out of room is recorded as %+v, want a rolled back vm.create", o)
	}

	// Once space is freed, the store takes a create again.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if resp, body := td.do("POST", "/v1/vms", smallVM("late", img.Name, false)); resp.StatusCode != http.StatusCreated {
		t.Fatalf("create after freeing space: %d %s", resp.StatusCode, body)
	}
	td.checkStoreMatches(append(made, "late"))
}

// registerDataImage registers a root filesystem without a journal whose
// blocks are mostly a file of n random bytes, so that a copy of it writes
// about as much as it occupies.
func (td *testDaemon) registerDataImage(name string, n int64) api.Image {
	td.t.Helper()
	return td.registerDataImageIn(name, td.root, n)
}

// registerDataImageIn is registerDataImage with the image's files in dir.
func (td *testDaemon) registerDataImageIn(name, dir string, n int64) api.Image {
	t := td.t
	t.Helper()
	tree := filepath.Join(dir, name+"-tree")
	if err := os.MkdirAll(tree, 0o755); err != nil {
		t.Fatal(err)
	}
	data := make([]byte, n)
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tree, "data"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	rootfs := filepath.Join(dir, name+".ext4")
	if err := os.WriteFile(rootfs, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(rootfs, n+8<<20); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", "-O", "^has_journal", "-d", tree, rootfs).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4: %v\n%s", err, out)
	}
	kernel := filepath.Join(dir, name+".vmlinux")
	fctest.WriteKernel(t, kernel)
	body, _ := json.Marshal(api.RegisterImageRequest{Name: name, RootFS: rootfs, Kernel: kernel})
	resp, out := td.do("POST", "/v1/images", string(body))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("register image %s: %d %s", name, resp.StatusCode, out)
	}
	var img api.Image
	decodeStrict(t, out, &img)
	return img
}

// allocateFile allocates a file of n bytes.
func allocateFile(t *testing.T, path string, n int64) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Fallocate(int(f.Fd()), 0, 0, n); err != nil {
		t.Fatalf("allocate %d bytes: %v", n, err)
	}
}

// checkStoreMatches checks that the daemon's VMs are exactly names, all
// stopped, each directory holding a root and a work disk that fsck
// passes, and that no half-written file lies anywhere in the state or
// cache directory.
func (td *testDaemon) checkStoreMatches(names []string) {
	t := td.t
	t.Helper()
	var vms []api.VM
	_, body := td.do("GET", "/v1/vms", "")
	decodeStrict(t, body, &vms)
	got := []string{}
	for _, v := range vms {
		got = append(got, v.Name)
		if v.State != "stopped" {
			t.Errorf("VM %s is %s, want stopped", v.Name, v.State)
		}
		for _, f := range []string{"root.ext4", "work.ext4"} {
			p := filepath.Join(v.Dir, f)
			if out, err := exec.Command("e2fsck", "-fn", p).CombinedOutput(); err != nil {
				t.Errorf("e2fsck %s: %v\n%s", p, err, out)
			}
		}
	}
	want := append([]string{}, names...)
	sort.Strings(want)
	sort.Strings(got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("VMs (-want +got):\n%s", diff)
	}
	dirs, err := os.ReadDir(filepath.Join(td.layout.StateDir, "vms"))
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) != len(names) {
		t.Errorf("%d VM directories for %d VMs", len(dirs), len(names))
	}
	for _, dir := range []string{td.layout.StateDir, td.layout.CacheDir} {
		_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && strings.Contains(d.Name(), ".tmp-") {
				t.Errorf("half-written file left behind: %s", p)
			}
			return nil
		})
	}
}

// operations returns the daemon's recent operations, newest first.
func (td *testDaemon) operations() []api.Operation {
	td.t.Helper()
	var ops []api.Operation
	_, body := td.do("GET", "/v1/operations", "")
	decodeStrict(td.t, body, &ops)
	if len(ops) == 0 {
		td.t.Fatal("no operations")
	}
	return ops
}
