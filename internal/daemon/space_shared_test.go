package daemon

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"banger/internal/api"
	"banger/internal/config"
	"banger/internal/cow"
	"banger/internal/disk/disktest"
	"banger/internal/testtier"
)

// TestDiskUsageSharedBlocks: with the state directory on XFS and reflink
// clones, two VMs' root disks share an image's 8 MiB of data; system df
// says so per item and category (SHARED), counts only the stopped VMs'
// own blocks reclaimable, and its total counts the shared blocks once
// instead of once per clone.
func TestDiskUsageSharedBlocks(t *testing.T) {
	testtier.Root(t) // an XFS loop file, mounted
	mnt := disktest.SmallXFS(t, 512<<20)
	td := startDaemon(t, daemonOpts{stateRoot: mnt, config: func(c *config.Config) { c.VM.DiskStrategy = "reflink" }})
	files := filepath.Join(mnt, "user")
	if err := os.Mkdir(files, 0o755); err != nil {
		t.Fatal(err)
	}
	img := td.registerDataImageIn("default", files, 8<<20) // on the same XFS, so clones can share it
	for _, name := range []string{"a", "b"} {
		if resp, body := td.do("POST", "/v1/vms", smallVM(name, img.Name, false)); resp.StatusCode != http.StatusCreated {
			t.Fatalf("create %s: %d %s", name, resp.StatusCode, body)
		}
	}

	du := td.df()
	imgs, disks := category(t, du, api.SpaceImages), category(t, du, api.SpaceVMDisks)
	const data = 8 << 20
	if it := item(t, imgs, "default"); it.Shared < data || it.Shared > it.Allocated {
		t.Errorf("image item = %+v, want its data (8 MiB) counted shared with the clones", it)
	}
	for _, name := range []string{"a", "b"} {
		if it := item(t, disks, name); it.Shared < data || it.Shared > it.Allocated {
			t.Errorf("VM %s item = %+v, want the image's data counted shared", name, it)
		}
	}
	// Both VMs are stopped: vm prune frees their own blocks, not the
	// image's they share.
	if disks.Shared != item(t, disks, "a").Shared+item(t, disks, "b").Shared || disks.Reclaimable != disks.Allocated-disks.Shared {
		t.Errorf("vm_disks = %+v, want the items' shared bytes summed and only the rest reclaimable", disks)
	}
	tot := du.Total
	if tot.Allocated < imgs.Allocated+disks.Allocated || tot.Shared < 3*data {
		t.Errorf("total = %+v, want at least the images' and VM disks' allocated bytes and three copies of the data shared", tot)
	}
	// Three files share the data: once in the total, not three times.
	if tot.OnDisk > tot.Allocated-2*data || tot.OnDisk < tot.Allocated-tot.Shared+data {
		t.Errorf("total on disk = %d of %d allocated (%d shared): want the 8 MiB of data counted once, not three times", tot.OnDisk, tot.Allocated, tot.Shared)
	}
	t.Logf("an image and two clones: %d bytes allocated in all, %d of them shared, %d on disk", tot.Allocated, tot.Shared, tot.OnDisk)
	// vm prune says it frees what df counts reclaimable.
	if r := td.prune("/v1/vms/prune", true); r.Reclaimed != disks.Reclaimable {
		t.Errorf("vm prune --dry-run reclaims %d, df says %d", r.Reclaimed, disks.Reclaimable)
	}
}

// TestDiskUsageSharedLoopXFS: with loop-xfs, VM disks are clones of the
// image's copy inside banger's XFS filesystem; system df lists that copy
// among the caches, counts the data it shares with the two VMs' disks as
// shared in each, and once in the total.
func TestDiskUsageSharedLoopXFS(t *testing.T) {
	testtier.Root(t) // the daemon mounts its XFS file
	if _, err := exec.LookPath("mkfs.xfs"); err != nil {
		t.Skip("needs mkfs.xfs (apt-get install xfsprogs)")
	}
	td := startDaemon(t, daemonOpts{config: func(c *config.Config) { c.VM.DiskStrategy = "loop-xfs" }})
	t.Cleanup(func() {
		if err := cow.Unmount(td.d.cow); err != nil {
			t.Errorf("unmount: %v", err)
		}
	})
	img := td.registerDataImage("default", 8<<20)
	for _, name := range []string{"a", "b"} {
		if resp, body := td.do("POST", "/v1/vms", smallVM(name, img.Name, false)); resp.StatusCode != http.StatusCreated {
			t.Fatalf("create %s: %d %s", name, resp.StatusCode, body)
		}
	}

	du := td.df()
	const data = 8 << 20
	base := item(t, category(t, du, api.SpaceCaches), "loop-xfs image copies")
	if base.Path != cow.BasesDir(td.layout.StateDir) || base.Shared < data || base.InUse || base.Reclaimable {
		t.Errorf("loop-xfs copies item = %+v, want the copy of the image's data, shared with the VMs' disks", base)
	}
	disks := category(t, du, api.SpaceVMDisks)
	for _, name := range []string{"a", "b"} {
		if it := item(t, disks, name); it.Shared < data {
			t.Errorf("VM %s item = %+v, want the copy's data counted shared", name, it)
		}
	}
	// The copy and two clones share the data: once in the total.
	if tot := du.Total; tot.OnDisk > tot.Allocated-2*data {
		t.Errorf("total = %+v: want the 8 MiB of data the copy shares with two clones counted once", tot)
	} else {
		t.Logf("an image, its loop-xfs copy and two clones: %d bytes allocated in all, %d of them shared, %d on disk", tot.Allocated, tot.Shared, tot.OnDisk)
	}
}
