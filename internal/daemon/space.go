package daemon

import (
	"context"
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"banger/internal/api"
	"banger/internal/cow"
	"banger/internal/disk"
	"banger/internal/imagebuild"
	"banger/internal/paths"
	"banger/internal/vm"
)

// spaceCollector measures one category of GET /v1/system/df. A new kind
// of thing banger stores (snapshots, say) adds a collector here.
type spaceCollector func(ctx context.Context) (api.SpaceCategory, error)

func (d *Daemon) spaceCollectors() []spaceCollector {
	return []spaceCollector{d.imageSpace, d.layerSpace, d.kernelSpace, d.vmSpace, d.snapshotSpace, d.cacheSpace}
}

// diskUsage measures every category and the room on the state and cache
// filesystems. Sizes come from stat (apparent size and allocated
// blocks), so they hold whatever way a disk was made; shared blocks from
// FIEMAP. The total measures every item's path together, so a block an
// image shares with its clones is counted once there.
func (d *Daemon) diskUsage(ctx context.Context) (api.DiskUsage, error) {
	out := api.DiskUsage{Filesystems: []api.FilesystemSpace{}, Categories: []api.SpaceCategory{}}
	for _, dir := range []struct{ what, path string }{
		{"state", d.opts.Layout.StateDir}, {"cache", d.opts.Layout.CacheDir},
	} {
		f, err := disk.FreeSpace(dir.path)
		if err != nil {
			return api.DiskUsage{}, err
		}
		out.Filesystems = append(out.Filesystems, api.FilesystemSpace{Dir: dir.what, Path: dir.path, Available: f.Available, Total: f.Total})
	}
	for _, c := range d.spaceCollectors() {
		cat, err := c(ctx)
		if err != nil {
			return api.DiskUsage{}, err
		}
		out.Categories = append(out.Categories, cat)
	}
	m := disk.NewMeter()
	for _, c := range out.Categories {
		for _, it := range c.Items {
			if it.Path == "" {
				continue
			}
			if _, err := m.Measure(it.Path); err != nil {
				return api.DiskUsage{}, err
			}
		}
	}
	t := m.Total()
	out.Total = api.SpaceTotal{Apparent: t.Apparent, Allocated: t.Allocated, Shared: t.Shared, OnDisk: t.OnDisk}
	return out, nil
}

// add counts an item into its category; counted is false for an item
// whose files another item of the category already counted.
func add(c *api.SpaceCategory, it api.SpaceItem, counted bool) {
	c.Count++
	c.Items = append(c.Items, it)
	if !counted {
		return
	}
	c.Apparent += it.Apparent
	c.Allocated += it.Allocated
	c.Shared += it.Shared
	if it.Reclaimable {
		c.Reclaimable += it.Allocated - it.Shared
	}
}

func usageItem(name, path string) (api.SpaceItem, error) {
	u, err := disk.UsageOf(path)
	if err != nil {
		return api.SpaceItem{}, err
	}
	return api.SpaceItem{Name: name, Path: path, Apparent: u.Apparent, Allocated: u.Allocated, Shared: u.Shared}, nil
}

// keptImages are the images image prune never removes: the default one.
func (d *Daemon) keptImages() []string { return []string{d.opts.Config.VM.Image} }

// imageSpace: built and pulled images count their directory in the image store;
// registered images their root filesystem (a host file banger does not
// own, so never reclaimable). Reclaimable is what image prune frees.
func (d *Daemon) imageSpace(ctx context.Context) (api.SpaceCategory, error) {
	c := api.SpaceCategory{Name: api.SpaceImages, ReclaimCommand: "banger image prune", Items: []api.SpaceItem{}}
	imgs, err := d.images.List(ctx)
	if err != nil {
		return c, err
	}
	unused, err := d.images.Unused(ctx, d.keptImages())
	if err != nil {
		return c, err
	}
	prunable := map[string]bool{}
	for _, img := range unused {
		prunable[img.ID] = true
	}
	// A directory shared by an image prune keeps is not freed by it.
	keptDirs := map[string]bool{}
	for _, img := range imgs {
		if dir := d.images.FilesDir(img); dir != "" && !prunable[img.ID] {
			keptDirs[dir] = true
		}
	}
	seen := map[string]bool{}
	for _, img := range imgs {
		dir := d.images.FilesDir(img)
		path, detail := dir, "built"
		if img.Source != "" {
			detail = "pulled from " + img.Source
		}
		if dir == "" {
			path, detail = img.RootFS, "registered: the host file is left alone by prune"
		}
		it, err := usageItem(img.Name, path)
		if err != nil {
			return c, err
		}
		it.Detail = detail
		it.InUse = !prunable[img.ID]
		it.Reclaimable = prunable[img.ID] && dir != "" && !keptDirs[dir]
		add(&c, it, !seen[path])
		seen[path] = true
	}
	return c, nil
}

// layerCacheDir is the OCI layer cache: blobs/sha256/<hex>, and tmp/ for
// downloads in progress.
func layerCacheDir(l paths.Layout) string { return filepath.Join(l.CacheDir, "oci") }

// layerSpace: every cached layer blob; one no image record lists is what
// image cache prune removes. Downloads in progress (or cut short by a
// crash) are counted but not reclaimable: a pull may be using them.
func (d *Daemon) layerSpace(ctx context.Context) (api.SpaceCategory, error) {
	c := api.SpaceCategory{Name: api.SpaceLayers, ReclaimCommand: "banger image cache prune", Items: []api.SpaceItem{}}
	cached, used, err := d.images.Layers(ctx)
	if err != nil {
		return c, err
	}
	for _, l := range cached {
		it, err := usageItem(shortDigest(l.Digest), l.Path)
		if err != nil {
			return c, err
		}
		it.Detail = l.Digest
		it.InUse = used[l.Digest]
		it.Reclaimable = !it.InUse
		add(&c, it, true)
	}
	tmp := filepath.Join(layerCacheDir(d.opts.Layout), "tmp")
	if it, err := usageItem("downloads", tmp); err != nil {
		return c, err
	} else if it.Apparent > 0 || it.Allocated > 0 {
		it.Detail = "layers being downloaded, or cut short by a crash"
		c.Apparent += it.Apparent
		c.Allocated += it.Allocated
		c.Shared += it.Shared
		c.Items = append(c.Items, it)
	}
	return c, nil
}

// shortDigest is the first 12 hex digits of a digest.
func shortDigest(d string) string {
	d = strings.TrimPrefix(d, "sha256:")
	if len(d) > 12 {
		return d[:12]
	}
	return d
}

// kernelSpace: a kernel is in use while an image boots it; the others can
// be removed with "banger kernel rm".
func (d *Daemon) kernelSpace(ctx context.Context) (api.SpaceCategory, error) {
	c := api.SpaceCategory{Name: api.SpaceKernels, ReclaimCommand: "banger kernel rm", Items: []api.SpaceItem{}}
	ks, err := d.kernels.List(ctx)
	if err != nil {
		return c, err
	}
	imgs, err := d.images.List(ctx)
	if err != nil {
		return c, err
	}
	booted := map[string]bool{}
	for _, img := range imgs {
		booted[img.Kernel] = true
	}
	for _, k := range ks {
		it := api.SpaceItem{Name: k.Name, Path: filepath.Dir(k.Vmlinux), Detail: k.Version}
		for _, p := range []string{k.Vmlinux, k.BzImage, k.Initrd} {
			if p == "" {
				continue
			}
			u, err := disk.UsageOf(p)
			if err != nil {
				return c, err
			}
			it.Apparent += u.Apparent
			it.Allocated += u.Allocated
			it.Shared += u.Shared
		}
		it.InUse = booted[k.Vmlinux]
		it.Reclaimable = !it.InUse
		add(&c, it, true)
	}
	return c, nil
}

// vmSpace: each VM's directory (root and work disks, logs). A stopped VM
// is what vm prune deletes.
func (d *Daemon) vmSpace(ctx context.Context) (api.SpaceCategory, error) {
	c := api.SpaceCategory{Name: api.SpaceVMDisks, ReclaimCommand: "banger vm prune", Items: []api.SpaceItem{}}
	vms, err := d.vms.List(ctx)
	if err != nil {
		return c, err
	}
	for _, v := range vms {
		it, err := usageItem(v.Name, v.Dir)
		if err != nil {
			return c, err
		}
		it.Detail = string(v.State)
		it.Reclaimable = v.State == vm.StateStopped
		it.InUse = !it.Reclaimable
		add(&c, it, true)
	}
	return c, nil
}

// snapshotSpace: each snapshot's directory (VMM state, memory and disk
// copies). One no VM uses is what snapshot prune deletes.
func (d *Daemon) snapshotSpace(ctx context.Context) (api.SpaceCategory, error) {
	c := api.SpaceCategory{Name: api.SpaceSnapshots, ReclaimCommand: "banger snapshot prune", Items: []api.SpaceItem{}}
	snaps, err := d.vms.Snapshots(ctx)
	if err != nil {
		return c, err
	}
	for _, sn := range snaps {
		it, err := usageItem(sn.Name, sn.Dir)
		if err != nil {
			return c, err
		}
		it.Detail = "of VM " + sn.VM
		if sn.Warm {
			it.Detail = "warm start of image " + sn.Image
		}
		if sn.State != "ready" {
			it.Detail += " (" + sn.State + ")"
		}
		it.InUse = sn.InUse
		it.Reclaimable = !sn.InUse
		add(&c, it, true)
	}
	return c, nil
}

// cacheSpace counts every entry of the cache directory but the layer
// cache (the kernel build cache, work disk templates, the distribution
// kernel downloads, and whatever else a component caches there), the
// loop-xfs strategy's copies of images and the image build areas in the
// image store, each as it is on disk. Caches are recreated on demand; banger
// has no command that clears them, so nothing is counted reclaimable.
func (d *Daemon) cacheSpace(ctx context.Context) (api.SpaceCategory, error) {
	c := api.SpaceCategory{Name: api.SpaceCaches, Items: []api.SpaceItem{}}
	entries, err := os.ReadDir(d.opts.Layout.CacheDir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return c, err
	}
	for _, e := range entries {
		p := filepath.Join(d.opts.Layout.CacheDir, e.Name())
		if p == layerCacheDir(d.opts.Layout) {
			continue // the layers category
		}
		it, err := usageItem(e.Name(), p)
		if err != nil {
			return c, err
		}
		add(&c, it, true)
	}
	// loop-xfs's copies of images, which its VM disks are clones of: the
	// blocks they share with those disks count once in the total.
	if bases := cow.BasesDir(d.opts.Layout.StateDir); isDir(bases) {
		it, err := usageItem("loop-xfs image copies", bases)
		if err != nil {
			return c, err
		}
		it.Detail = "the images' copies in banger's XFS filesystem that VM disks clone; removed after their images"
		add(&c, it, true)
	}
	imagesDir := filepath.Join(d.opts.Layout.StateDir, "images")
	areas, err := os.ReadDir(imagesDir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return c, err
	}
	for _, e := range areas {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), imagebuild.BuildAreaPrefix) {
			continue
		}
		it, err := usageItem("image build area "+e.Name(), filepath.Join(imagesDir, e.Name()))
		if err != nil {
			return c, err
		}
		it.Detail = "a running build's, or a crashed one's removed by the next build"
		add(&c, it, true)
	}
	return c, nil
}

// isDir reports whether path is a directory.
func isDir(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}

func (d *Daemon) systemDF(w http.ResponseWriter, r *http.Request) {
	du, err := d.diskUsage(r.Context())
	if err != nil {
		d.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, du)
}
