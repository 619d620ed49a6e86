package cow

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"banger/internal/disk"
	"banger/internal/errdefs"
)

// Names of the dm strategy inside the state directory.
const (
	dmDir        = "dm"      // stateDir/dm: the origins
	originSuffix = ".origin" // next to a VM disk: the path of its origin
	// DMPrefix starts the name of every device-mapper device banger makes
	// (/dev/mapper/banger-<vm id>); the root helper makes no other.
	DMPrefix = "banger-"
	// dmChunkSectors is the snapshot's chunk: 4 KiB, the guest's block.
	dmChunkSectors = 8
)

// Attacher is a Strategy whose disks are not raw image files: a VM's disk
// is a block device made from it at start (Attach) and removed at stop
// (Detach). The VMM opens the device, never the file. The vm service
// checks for it with a type assertion.
type Attacher interface {
	// Attach makes the block device of disk (a file Clone made) for the
	// VM id and returns its path. The device is owned by the daemon's
	// user. Attaching an attached disk returns the same device.
	Attach(ctx context.Context, id, disk string) (string, error)
	// Detach removes the device of the VM id; a missing one is not an
	// error.
	Detach(id string) error
	// Attached lists the VM ids whose devices exist (this state
	// directory's only), for reconcile after a crash.
	Attached() ([]string, error)
}

// DMDevices makes and removes the device-mapper devices of one state
// directory. DMLocal does it in-process (the daemon runs as root); the
// root helper serves it for an unprivileged daemon.
type DMDevices interface {
	// AttachDM makes the snapshot device name over disk (its COW file,
	// its origin read from disk+".origin") and returns its node.
	AttachDM(name, disk string) (string, error)
	// DetachDM removes the device name if it is this state directory's.
	DetachDM(name string) error
	// ListDM names this state directory's devices.
	ListDM() ([]string, error)
}

// DMLocal makes the devices of StateDir in-process for UID's daemon; it
// needs root.
type DMLocal struct {
	StateDir string
	UID      int
	// Prefix replaces DMPrefix when not empty (tests name their devices
	// apart); it must itself start with DMPrefix.
	Prefix string
}

func (l DMLocal) AttachDM(name, disk string) (string, error) {
	return AttachChecked(l.StateDir, l.UID, name, disk)
}
func (l DMLocal) DetachDM(name string) error { return DetachChecked(l.StateDir, l.UID, name) }
func (l DMLocal) ListDM() ([]string, error)  { return ListChecked(l.StateDir, l.UID) }

// dmSnap clones an image by recording it as the origin of a new, empty
// copy-on-write file: Clone writes no data. The origin is a hard link to
// the image under stateDir/dm (so it outlives the image's removal and is
// in the state directory, where the root helper accepts it), and a VM's
// disk is the COW file plus disk+".origin" naming that link. At start the
// disk becomes /dev/mapper/banger-<id>: a device-mapper snapshot target
// over the origin (a read-only loop device) and the COW file (a loop
// device), both loop devices released when the device is removed.
type dmSnap struct {
	stateDir string
	uid      int // owner of the state directory: of every file made here
	prefix   string
	devices  DMDevices

	mu sync.Mutex // one origin link at a time
}

func (d *dmSnap) Name() string { return NameDM }
func (d *dmSnap) Dir() string  { return "" }

// Clone of an image makes an empty COW file over it; clone of another dm
// disk (a snapshot of a paused VM's disk) copies its COW file, keeping
// holes, over the same origin. The VM's writes have reached the COW file
// once its VMM has no request in flight (dm-snapshot commits an
// exception's metadata before it completes the write), which the caller
// guarantees by pausing it.
func (d *dmSnap) Clone(ctx context.Context, src, dst string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	origin, srcCOW, err := d.originOf(ctx, src)
	if err != nil {
		return err
	}
	fi, err := os.Stat(origin)
	if err != nil {
		return fmt.Errorf("origin of %s: %w", src, err)
	}
	tmpOrigin := dst + originSuffix + ".tmp"
	if err := os.WriteFile(tmpOrigin, []byte(origin), 0o600); err != nil {
		return fmt.Errorf("record the origin of %s: %w", dst, err)
	}
	if err := d.own(tmpOrigin); err != nil {
		os.Remove(tmpOrigin)
		return err
	}
	fail := func(err error) error {
		os.Remove(tmpOrigin)
		os.Remove(dst + originSuffix)
		return err
	}
	if srcCOW {
		if err := disk.SparseCopy(ctx, src, dst); err != nil {
			return fail(err)
		}
		if err := d.own(dst); err != nil {
			os.Remove(dst)
			return fail(err)
		}
	} else {
		tmp := dst + ".tmp"
		f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			return fail(fmt.Errorf("create %s: %w", dst, err))
		}
		err = f.Truncate(cowSize(fi.Size()))
		err = errors.Join(err, f.Close(), d.own(tmp))
		if err == nil {
			err = ctx.Err()
		}
		if err == nil {
			err = os.Rename(tmp, dst)
		}
		if err != nil {
			os.Remove(tmp)
			return fail(fmt.Errorf("create %s: %w", dst, err))
		}
	}
	if err := os.Rename(tmpOrigin, dst+originSuffix); err != nil {
		os.Remove(dst)
		return fail(fmt.Errorf("record the origin of %s: %w", dst, err))
	}
	return nil
}

// cowSize is the size of a COW file that can take every chunk of an
// origin of size bytes: the data, one metadata chunk per 256 data chunks
// (16-byte exceptions in a 4 KiB chunk), the header and a margin. The
// file is sparse: only what the VM writes takes space.
func cowSize(size int64) int64 {
	chunk := int64(dmChunkSectors * 512)
	chunks := (size + chunk - 1) / chunk
	return (chunks + chunks/256 + 16) * chunk
}

// originOf returns the origin a clone of src uses, and whether src is
// itself a dm disk (a COW file) rather than an image.
func (d *dmSnap) originOf(ctx context.Context, src string) (string, bool, error) {
	b, err := os.ReadFile(src + originSuffix)
	if err == nil {
		return string(b), true, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", false, fmt.Errorf("origin of %s: %w", src, err)
	}
	o, err := d.link(ctx, src)
	return o, false, err
}

// link returns the origin of the image src: a hard link to it in
// stateDir/dm named for its identity, so that an image replaced at the
// same path gets a new origin. Where the image is on another filesystem
// the origin is a copy.
func (d *dmSnap) link(ctx context.Context, src string) (string, error) {
	fi, err := os.Stat(src)
	if err != nil {
		return "", fmt.Errorf("image %s: %w", src, err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || !fi.Mode().IsRegular() {
		return "", errdefs.InvalidArgumentf("%s is not a regular file: only image files can be cloned", src)
	}
	dir := filepath.Join(d.stateDir, dmDir)
	origin := filepath.Join(dir, baseKey(src, st, fi.Size(), fi.ModTime().UnixNano())+".img")
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, err := os.Stat(origin); err == nil {
		return origin, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("make %s: %w", dir, err)
	}
	// A link is the image itself: only when it is the state directory
	// owner's and nobody else may write it (the root helper accepts no
	// other origin). Otherwise, and across filesystems, a copy.
	err = unix.EXDEV
	if int(st.Uid) == d.uid && st.Mode&0o022 == 0 {
		err = os.Link(src, origin)
	}
	if errors.Is(err, unix.EXDEV) {
		err = disk.SparseCopy(ctx, src, origin)
		if err == nil {
			err = d.own(origin)
		}
	}
	if err != nil {
		os.Remove(origin)
		return "", fmt.Errorf("keep image %s as an origin in %s: %w", src, dir, err)
	}
	return origin, nil
}

// own gives path to the state directory's owner, when the daemon runs as
// root for another user.
func (d *dmSnap) own(path string) error {
	if os.Geteuid() != 0 || d.uid == 0 {
		return nil
	}
	if err := os.Chown(path, d.uid, -1); err != nil {
		return fmt.Errorf("give %s to uid %d: %w", path, d.uid, err)
	}
	return nil
}

// Remove deletes a dm disk: its COW file and its origin record (the
// origin stays for the others; Open drops origins nothing uses).
func (d *dmSnap) Remove(path string) error {
	return errors.Join(removeFile(path+originSuffix), removeFile(path))
}

// Usage of a dm disk: its size is its origin's, and it takes the origin's
// blocks (shared) and its COW file's.
func (d *dmSnap) Usage(path string) (Usage, error) {
	cow, err := fileUsage(path)
	if err != nil {
		return Usage{}, err
	}
	b, err := os.ReadFile(path + originSuffix)
	if err != nil {
		return Usage{}, fmt.Errorf("origin of %s: %w", path, err)
	}
	o, err := fileUsage(string(b))
	if err != nil {
		return Usage{}, err
	}
	return Usage{Apparent: o.Apparent, Allocated: o.Allocated + cow.Allocated}, nil
}

func (d *dmSnap) Attach(ctx context.Context, id, disk string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	return d.devices.AttachDM(d.prefix+id, disk)
}

func (d *dmSnap) Detach(id string) error { return d.devices.DetachDM(d.prefix + id) }

func (d *dmSnap) Attached() ([]string, error) {
	names, err := d.devices.ListDM()
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, n := range names {
		if id, ok := strings.CutPrefix(n, d.prefix); ok {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// pruneOrigins removes the origins in stateDir/dm that no disk's
// ".origin" record under the state directory names.
func (d *dmSnap) pruneOrigins() error {
	dir := filepath.Join(d.stateDir, dmDir)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	used := map[string]bool{}
	err = filepath.WalkDir(d.stateDir, func(p string, e os.DirEntry, err error) error {
		if err != nil {
			return nil // unreadable parts hold no records of ours
		}
		if e.Type().IsRegular() && strings.HasSuffix(p, originSuffix) {
			if b, err := os.ReadFile(p); err == nil {
				used[string(b)] = true
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		if !used[p] {
			if err := removeFile(p); err != nil {
				return err
			}
		}
	}
	return nil
}

// DMAvailable says whether this host can make device-mapper snapshots,
// and if not, why.
func DMAvailable() (bool, string) {
	if os.Geteuid() != 0 {
		return false, "device-mapper needs root"
	}
	if _, err := os.Stat(dmControl); err != nil {
		return false, "no " + dmControl + " (the kernel has no device-mapper, or it is not loaded: modprobe dm-snapshot)"
	}
	ok, err := dmHasTarget("snapshot")
	if err != nil {
		return false, err.Error()
	}
	if ok {
		return true, ""
	}
	var uts unix.Utsname
	if unix.Uname(&uts) == nil {
		rel := cString(uts.Release[:])
		for _, ext := range []string{"", ".xz", ".zst", ".gz"} {
			if _, err := os.Stat("/lib/modules/" + rel + "/kernel/drivers/md/dm-snapshot.ko" + ext); err == nil {
				return true, "" // loaded on first use
			}
		}
	}
	return false, "device-mapper has no snapshot target (modprobe dm-snapshot)"
}
