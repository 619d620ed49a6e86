package vm

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"banger/internal/errdefs"
	"banger/internal/store"
	"banger/internal/vmm"
)

// A warm snapshot is a snapshot of a freshly booted, ready VM that never
// ran user work and never had a workspace: vm run resumes it instead of
// booting. It is made by booting a builder VM (named warmName, labelled
// warmLabel with its key, so a daemon killed while building deletes it
// at start-up), waiting for its agent, snapshotting it and deleting it.
const (
	warmLabel        = "banger.warm"
	warmReadyTimeout = 5 * time.Minute
)

// warmName is the name of the builder VM and of the snapshot for key.
func warmName(key string) string { return "warm-" + key[:12] }

// warmRequest fills req's defaults and returns its image and warm key.
func (s *Service) warmRequest(ctx context.Context, req CreateRequest) (CreateRequest, store.Image, string, error) {
	req, err := s.defaults.CheckCreate(req)
	if err != nil {
		return req, store.Image{}, "", err
	}
	img, err := s.store.GetImage(ctx, req.Image)
	if err != nil {
		return req, store.Image{}, "", err
	}
	key, err := s.warmKey(img, s.driver.Name(), req.VCPUs, req.MemoryMiB, req.DiskBytes)
	return req, img, key, err
}

// warmKey is the digest of everything a VM resumed from a warm snapshot
// must agree on with one booted cold: the image (its id, digest and
// identity capability, and its root filesystem's file), the kernel and
// initrd files, the driver and its boot settings (vmm.BootSettings), and
// the VM's shape. A file is identified by its device, inode, size and
// modification time, so a rebuilt, re-pulled or replaced image or kernel
// changes the key even at the same path.
func (s *Service) warmKey(img store.Image, driver string, vcpus, memoryMiB int, diskBytes int64) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "banger warm 1\nimage %s %s %s\ndriver %s\nshape %d %d %d\n",
		img.ID, img.Digest, img.Identity, driver, vcpus, memoryMiB, diskBytes)
	if d, ok := s.drivers[driver].(vmm.BootSettings); ok {
		fmt.Fprintf(h, "boot %s\n", d.BootSettings())
	}
	for _, f := range []string{img.RootFS, img.Kernel, img.Initrd} {
		st, err := fileStamp(f)
		if err != nil {
			return "", fmt.Errorf("warm start: read the files of image %s: %w", img.Name, err)
		}
		fmt.Fprintf(h, "file %q %s\n", f, st)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// fileStamp identifies the file at path as it is now; "" for no path.
func fileStamp(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	fi, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Sprintf("%d %d", fi.Size(), fi.ModTime().UnixNano()), nil
	}
	return fmt.Sprintf("%d:%d %d %d", st.Dev, st.Ino, fi.Size(), fi.ModTime().UnixNano()), nil
}

// warmSnapshots returns the warm snapshots with their keys.
func (s *Service) warmSnapshots(ctx context.Context) ([]store.Snapshot, map[string]string, error) {
	keys, err := s.store.WarmKeys(ctx)
	if err != nil {
		return nil, nil, err
	}
	all, err := s.store.ListSnapshots(ctx)
	if err != nil {
		return nil, nil, err
	}
	var out []store.Snapshot
	for _, sn := range all {
		if keys[sn.ID] != "" {
			out = append(out, sn)
		}
	}
	return out, keys, nil
}

// matchWarm returns the ready warm snapshot for key, removing on the way
// the warm snapshots of img that no longer match their own shape (the
// image's or the kernel's files changed since they were made), unless a
// VM uses them.
func (s *Service) matchWarm(ctx context.Context, img store.Image, key string) (store.Snapshot, bool, error) {
	snaps, keys, err := s.warmSnapshots(ctx)
	if err != nil {
		return store.Snapshot{}, false, err
	}
	var (
		match store.Snapshot
		found bool
		errs  []error
	)
	for _, sn := range snaps {
		if keys[sn.ID] == key {
			match, found = sn, sn.State == "ready"
			continue
		}
		if sn.ImageID != img.ID || sn.State != "ready" {
			continue
		}
		now, err := s.warmKey(img, sn.Driver, sn.VCPUs, sn.MemoryMiB, sn.DiskBytes)
		if err != nil {
			return store.Snapshot{}, false, err
		}
		if now == keys[sn.ID] {
			continue
		}
		s.log.Info("removing stale warm snapshot", "snapshot", sn.Name, "image", img.Name)
		if _, _, err := s.pruneSnapshot(ctx, "", sn.ID, nil); err != nil {
			errs = append(errs, fmt.Errorf("remove stale warm snapshot %s: %w", sn.Name, err))
		}
	}
	return match, found, errors.Join(errs...)
}

// FindWarm returns the ready warm snapshot a VM created with req would be
// resumed from; ok is false when there is none. Stale warm snapshots of
// the image are removed (see matchWarm).
func (s *Service) FindWarm(ctx context.Context, req CreateRequest) (Snapshot, bool, error) {
	_, img, key, err := s.warmRequest(ctx, req)
	if err != nil {
		return Snapshot{}, false, err
	}
	sn, ok, err := s.matchWarm(ctx, img, key)
	if err != nil || !ok {
		return Snapshot{}, false, err
	}
	return s.toSnapshot(ctx, sn), true, nil
}

// Warm makes the warm snapshot for req's image and shape unless a ready
// one matches, and returns it; made says whether it was made now. Stale
// warm snapshots of the image are removed first. The builder VM is
// created, started, waited for and snapshotted as the usual journaled
// operations (opID-create, opID-create-start, opID-snapshot) and deleted
// (opID-delete) whatever happens.
func (s *Service) Warm(ctx context.Context, opID string, req CreateRequest, progress Progress) (sn Snapshot, made bool, err error) {
	req, img, key, err := s.warmRequest(ctx, req)
	if err != nil {
		return Snapshot{}, false, err
	}
	unlock := s.locks.lock("warm/" + key)
	defer unlock()
	return s.warmLocked(ctx, opID, req, img, key, progress, false)
}

// warmLocked is Warm under the key's lock; background lowers the builder
// VMM's CPU priority so that it yields to the user's VMs.
func (s *Service) warmLocked(ctx context.Context, opID string, req CreateRequest, img store.Image, key string, progress Progress, background bool) (Snapshot, bool, error) {
	if got, ok, err := s.matchWarm(ctx, img, key); err != nil || ok {
		return s.toSnapshot(ctx, got), false, err
	}
	name := warmName(key)
	// A snapshot of this name that is not the key's warm snapshot is
	// what a daemon killed between snapshotting and marking left.
	if old, err := s.store.GetSnapshot(ctx, name); err == nil {
		if _, _, err := s.pruneSnapshot(ctx, "", old.ID, nil); err != nil {
			return Snapshot{}, false, fmt.Errorf("remove the unfinished warm snapshot %s: %w", name, err)
		}
	}
	req.Name, req.Start, req.Labels = name, false, map[string]string{warmLabel: key}
	req.Image = img.ID
	v, err := s.create(ctx, subOpID(opID, "create"), req, progress)
	if err != nil {
		return Snapshot{}, false, fmt.Errorf("warm start: create the builder VM: %w", err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		defer cancel()
		if err := s.Delete(dctx, subOpID(opID, "delete"), v.ID, progress); err != nil && !errdefs.Is(err, errdefs.NotFound) {
			s.log.Warn("delete the warm builder VM", "vm", v.Name, "err", err)
		}
	}()
	started, err := s.Start(ctx, subOpID(opID, "start"), v.ID, progress)
	if err != nil {
		return Snapshot{}, false, fmt.Errorf("warm start: start the builder VM: %w", err)
	}
	if background {
		lowerPriority(started.PID)
	}
	if _, err := s.WaitReady(ctx, v.ID, warmReadyTimeout); err != nil {
		return Snapshot{}, false, fmt.Errorf("warm start: %w", err)
	}
	sn, err := s.SnapshotVM(ctx, subOpID(opID, "snapshot"), v.ID, name, progress)
	if err != nil {
		return Snapshot{}, false, fmt.Errorf("warm start: %w", err)
	}
	if err := s.store.MarkWarm(context.WithoutCancel(ctx), sn.ID, key); err != nil {
		_ = s.DeleteSnapshot(context.WithoutCancel(ctx), "", sn.ID, nil)
		return Snapshot{}, false, fmt.Errorf("warm start: %w", err)
	}
	sn, err = s.GetSnapshot(ctx, sn.ID)
	return sn, true, err
}

// createWarm creates and starts a VM for vm run. With warm start on
// (Defaults.WarmStart) and a ready warm snapshot matching the VM's image
// and shape, the VM is resumed from it instead of booting; otherwise it
// boots, and once it is ready the warm snapshot is made in the
// background (WarmLater) for the next run.
func (s *Service) createWarm(ctx context.Context, opID string, req CreateRequest, progress Progress) (VM, error) {
	req.Start, req.Warm = true, false
	if !s.defaults.WarmStart {
		return s.create(ctx, opID, req, progress)
	}
	sn, ok, err := s.FindWarm(ctx, req)
	if err != nil {
		s.log.Warn("warm start: looking for a warm snapshot failed; booting", "err", err)
	}
	if ok {
		v, err := s.CreateFromSnapshot(ctx, opID, sn.ID, req, progress)
		if err == nil {
			return v, nil
		}
		if errdefs.Is(err, errdefs.InvalidArgument) || errdefs.Is(err, errdefs.AlreadyExists) {
			return VM{}, err // the request's fault: a boot would fail as well
		}
		// The warm snapshot went meanwhile, or did not load: boot.
		s.log.Warn("warm start: resuming the warm snapshot failed; booting", "snapshot", sn.Name, "err", err)
		opID = subOpID(opID, "cold")
	}
	v, err := s.create(ctx, opID, req, progress)
	if err == nil {
		s.WarmLater(req, v.ID)
	}
	return v, err
}

// WarmLater makes the warm snapshot for req in the background, once the
// VM after (if any) is ready so as not to slow its boot, unless one is
// being made already; the builder VM runs at the lowest CPU priority.
// The service's Close cancels and waits for it. Failures are logged.
func (s *Service) WarmLater(req CreateRequest, after string) {
	ctx, cancel := context.WithCancel(context.Background())
	req, img, key, err := s.warmRequest(ctx, req)
	if err != nil {
		cancel()
		s.log.Warn("warm start: cannot make a warm snapshot", "err", err)
		return
	}
	unlock, ok := s.locks.tryLock("warm/" + key)
	if !ok {
		cancel()
		return
	}
	s.wg.Add(2)
	done := make(chan struct{})
	go func() {
		defer s.wg.Done()
		select {
		case <-s.stop:
			cancel()
		case <-done:
		}
	}()
	go func() {
		defer s.wg.Done()
		defer close(done)
		defer cancel()
		defer unlock()
		if after != "" {
			// Whether or not it became ready, the build goes on: a
			// failed boot of the user's VM is no reason to skip it.
			_, _ = s.WaitReady(ctx, after, warmReadyTimeout)
		}
		sn, made, err := s.warmLocked(ctx, NewOpID(), req, img, key, nil, true)
		switch {
		case err != nil:
			s.log.Warn("warm start: making a warm snapshot failed", "image", img.Name, "err", err)
		case made:
			s.log.Info("made warm snapshot", "snapshot", sn.Name, "image", img.Name)
		}
	}()
}

// lowerPriority gives every thread of process pid the lowest CPU
// priority (nice 19); a thread it cannot renice is left as it is.
func lowerPriority(pid int) {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return
	}
	for _, t := range tasks {
		var tid int
		if _, err := fmt.Sscan(t.Name(), &tid); err == nil {
			_ = syscall.Setpriority(syscall.PRIO_PROCESS, tid, 19)
		}
	}
}

// RemoveWarm deletes the warm snapshots of image imageID, which is being
// removed. While a VM uses the image nothing is deleted: the image's
// removal is refused for that VM anyway.
func (s *Service) RemoveWarm(ctx context.Context, imageID string) error {
	vms, err := s.store.ListVMs(ctx)
	if err != nil {
		return err
	}
	for _, v := range vms {
		if v.ImageID == imageID {
			return nil
		}
	}
	snaps, _, err := s.warmSnapshots(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, sn := range snaps {
		if sn.ImageID != imageID {
			continue
		}
		if err := s.DeleteSnapshot(ctx, "", sn.ID, nil); err != nil && !errdefs.Is(err, errdefs.NotFound) {
			errs = append(errs, fmt.Errorf("remove warm snapshot %s: %w", sn.Name, err))
		}
	}
	return errors.Join(errs...)
}

// removeWarmBuilders deletes the warm builder VMs a killed daemon left
// (reconcile, after every VM was settled).
func (s *Service) removeWarmBuilders(ctx context.Context) error {
	vms, err := s.store.ListVMs(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, rec := range vms {
		key := rec.Labels[warmLabel]
		if len(key) < 12 || rec.Name != warmName(key) {
			continue
		}
		s.log.Info("deleting the warm builder VM of an interrupted warm start", "vm", rec.Name)
		if err := s.Delete(ctx, "", rec.ID, nil); err != nil && !errdefs.Is(err, errdefs.NotFound) {
			errs = append(errs, fmt.Errorf("delete warm builder VM %s: %w", rec.Name, err))
		}
	}
	return errors.Join(errs...)
}
