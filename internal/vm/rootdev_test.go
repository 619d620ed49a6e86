package vm

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"banger/internal/disk"
)

// deviceDisks is the real disk adapter whose root disks are "devices"
// (RootDevices), as cow's dm strategy makes them: a device is a hard link
// to the disk file in dir, kept by VM id, so the VMM and WriteFiles use
// it as they would the device.
type deviceDisks struct {
	*faultyDisks
	dir string

	mu       sync.Mutex
	attached map[string]string // VM id -> disk file
	written  []string          // the paths WriteFiles was given
	clones   []string          // "root FILE" or "copy FILE": how each file was cloned
}

func (d *deviceDisks) CloneRootDisk(ctx context.Context, src, dst string) error {
	d.mu.Lock()
	d.clones = append(d.clones, "root "+filepath.Base(src))
	d.mu.Unlock()
	return d.faultyDisks.CloneRootDisk(ctx, src, dst)
}

func (d *deviceDisks) CopyFile(ctx context.Context, src, dst string) error {
	d.mu.Lock()
	d.clones = append(d.clones, "copy "+filepath.Base(src))
	d.mu.Unlock()
	return disk.SparseCopy(ctx, src, dst)
}

func newDeviceDisks(t *testing.T) func(*faultyDisks) Disks {
	dir := t.TempDir()
	return func(f *faultyDisks) Disks {
		return &deviceDisks{faultyDisks: f, dir: dir, attached: map[string]string{}}
	}
}

func (d *deviceDisks) dev(id string) string { return filepath.Join(d.dir, "banger-"+id) }

func (d *deviceDisks) AttachRootDisk(ctx context.Context, id, disk string) (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if got, ok := d.attached[id]; ok {
		if got != disk {
			return "", errors.New("device of " + id + " is over " + got + ", not " + disk)
		}
		return d.dev(id), nil
	}
	if err := os.Link(disk, d.dev(id)); err != nil {
		return "", err
	}
	d.attached[id] = disk
	return d.dev(id), nil
}

func (d *deviceDisks) DetachRootDisk(id string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.attached[id]; !ok {
		return nil
	}
	delete(d.attached, id)
	return os.Remove(d.dev(id))
}

func (d *deviceDisks) AttachedRootDisks() ([]string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var ids []string
	for id := range d.attached {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids, nil
}

func (d *deviceDisks) WriteFiles(ctx context.Context, image string, files []GuestFile) error {
	d.mu.Lock()
	d.written = append(d.written, image)
	d.mu.Unlock()
	return d.faultyDisks.WriteFiles(ctx, image, files)
}

func (d *deviceDisks) state() (ids, written []string) {
	ids, _ = d.AttachedRootDisks()
	d.mu.Lock()
	defer d.mu.Unlock()
	return ids, slices.Clone(d.written)
}

// A VM whose disks are devices: the identity written at create and the
// key written at start go through the device (never the disk file), the
// device exists from start to stop and on delete is gone, and a restarted
// daemon removes the devices of VMs that are gone or stopped and keeps
// those of running VMs.
func TestRootDevices(t *testing.T) {
	keys := &fakeSSH{key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKey banger\n", pins: map[string][]string{}}
	e := newEnv(t, envOpts{ssh: keys, disks: newDeviceDisks(t)})
	dd := e.svc.disks.(*deviceDisks)
	ctx := context.Background()

	a := e.create("a")
	ids, written := dd.state()
	if len(ids) != 0 || len(written) != 1 || written[0] != dd.dev(a.ID) {
		t.Fatalf("after create: devices %v, writes %v; want none left and the identity written through %s", ids, written, dd.dev(a.ID))
	}
	e.start("a")
	ids, written = dd.state()
	if diff := cmp.Diff([]string{a.ID}, ids); diff != "" {
		t.Errorf("devices while running (-want +got):\n%s", diff)
	}
	if len(written) != 2 || written[1] != dd.dev(a.ID) {
		t.Errorf("writes %v: want the key written through the device", written)
	}
	if _, err := e.svc.Stop(ctx, "", "a", nil); err != nil {
		t.Fatal(err)
	}
	if ids, _ := dd.state(); len(ids) != 0 {
		t.Errorf("devices after stop: %v", ids)
	}

	// A crash: b runs, a is stopped but its device was left, and a VM
	// that no longer exists left one.
	e.create("b")
	b := e.start("b")
	for _, id := range []string{a.ID, "0123456789abcdef"} {
		disk := filepath.Join(e.root, id+".disk")
		if err := os.WriteFile(disk, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := dd.AttachRootDisk(ctx, id, disk); err != nil {
			t.Fatal(err)
		}
	}
	svc := New(Config{Store: e.store, Driver: e.svc.driver, Disks: dd, Dirs: e.svc.dirs,
		Defaults: e.svc.defaults, WatchInterval: 50 * time.Millisecond})
	t.Cleanup(svc.Close)
	if err := svc.Reconcile(ctx); err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	if ids, _ := dd.state(); !cmp.Equal(ids, []string{b.ID}) {
		t.Errorf("devices after reconcile: %v, want only running b's %s", ids, b.ID)
	}
	if err := svc.Delete(ctx, "", "b", nil); err != nil {
		t.Fatal(err)
	}
	if ids, _ := dd.state(); len(ids) != 0 {
		t.Errorf("devices after deleting b: %v", ids)
	}
	entries, _ := os.ReadDir(dd.dir)
	if len(entries) != 0 {
		t.Errorf("device nodes left: %v", entries)
	}
}

// A snapshot of a VM whose root disk is a device clones the root disk
// with the strategy and copies the work disk as the plain file it is.
func TestRootDevicesSnapshot(t *testing.T) {
	e := newEnv(t, envOpts{disks: newDeviceDisks(t)})
	dd := e.svc.disks.(*deviceDisks)
	e.create("s")
	e.start("s")
	dd.mu.Lock()
	dd.clones = nil // the create's clone of the image
	dd.mu.Unlock()
	if _, err := e.svc.SnapshotVM(context.Background(), "", "s", "snap", nil); err != nil {
		t.Fatal(err)
	}
	dd.mu.Lock()
	defer dd.mu.Unlock()
	if diff := cmp.Diff([]string{"root " + rootDiskFile, "copy " + workDiskFile}, dd.clones); diff != "" {
		t.Errorf("snapshot clones (-want +got):\n%s", diff)
	}
}
