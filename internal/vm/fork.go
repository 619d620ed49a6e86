package vm

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"time"

	"banger/internal/errdefs"
	"banger/internal/names"
	"banger/internal/store"
)

// maxForks bounds the copies one fork makes.
const maxForks = 64

// ForkRequest asks for copies of a running or paused VM.
type ForkRequest struct {
	// Name is the copy's name with Count 1, and the prefix of the names
	// with more (NAME-1, NAME-2, ...); empty generates names.
	Name  string
	Count int // 0 means 1
	// NAT, NetGroup and Labels apply to each copy as for Create.
	NAT      *bool
	NetGroup string
	Labels   map[string]string
}

// forkParallel bounds the copies of one fork made at the same time: the
// host's CPU count, at least 2 and at most 8. A copy's costly parts (the
// VMM loading the saved memory, the resumed guest making new SSH host
// keys) are CPU work, under software emulation all of it, so copies
// beyond one per core only queue for the CPU while holding their memory;
// disk clones and VMM launches, mostly waiting on I/O and processes,
// still overlap from 2 on. 8 caps the burst of VMMs a large host starts
// at once for one request.
func forkParallel() int { return min(max(runtime.NumCPU(), 2), 8) }

// Fork saves the running or paused VM ref as a snapshot of its own (Auto:
// deleted with the last VM made from it) and makes req.Count VMs from it,
// up to Service.forkLimit at a time, each a new machine
// (CreateFromSnapshot). The snapshot is the operation opID+"-snapshot",
// copy i is opID+"-<i>". It returns the copies in the order of their
// names (NAME-1, NAME-2, ...; generated names sorted).
//
// A fork is all or nothing: when a copy fails, the copies in flight are
// cancelled (each rolls back as its own operation), none is started
// after it, the copies already made are stopped and deleted
// (opID+"-<i>-discard") and the snapshot is removed; the error names the
// copy that failed. A daemon killed during a fork rolls back the copies
// it finds unfinished and keeps the ones that were ready.
func (s *Service) Fork(ctx context.Context, opID, ref string, req ForkRequest, progress Progress) ([]VM, error) {
	count := req.Count
	if count == 0 {
		count = 1
	}
	if count < 0 || count > maxForks {
		return nil, errdefs.InvalidArgumentf("count %d: fork makes 1 to %d copies at a time", req.Count, maxForks)
	}
	copyNames, err := s.forkNames(ctx, req.Name, count)
	if err != nil {
		return nil, err
	}
	src, err := s.store.GetVM(ctx, ref)
	if err != nil {
		return nil, err
	}
	progress = serialProgress(progress)
	sn, err := s.snapshotVM(ctx, subOpID(opID, "snapshot"), src.ID, s.forkSnapshotName(ctx, src.Name), true, progress)
	if err != nil {
		return nil, err
	}
	if err := s.roomForFork(ctx, src, sn.ID, count); err != nil {
		return nil, errors.Join(err, s.dropAutoSnapshot(context.WithoutCancel(ctx), sn.ID))
	}
	copies, err := s.forkCopies(ctx, opID, sn.ID, copyNames, req, progress)
	if err != nil {
		err = fmt.Errorf("fork of %s: %w", src.Name, err)
		return nil, errors.Join(err, s.discardCopies(context.WithoutCancel(ctx), opID, copies, sn.ID))
	}
	return copies, nil
}

// forkCopies makes the VMs named names from snapshot snapID, s.forkLimit at
// a time. On the first failure it cancels the others and returns that
// failure with the copies that were made all the same (to be discarded).
func (s *Service) forkCopies(ctx context.Context, opID, snapID string, names []string, req ForkRequest, progress Progress) ([]VM, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	limit := s.forkLimit
	if limit < 1 {
		limit = 1
	}
	var (
		slots = make(chan struct{}, limit)
		made  = make([]*VM, len(names))
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	for i, name := range names {
		wg.Go(func() {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return
			}
			defer func() { <-slots }()
			if ctx.Err() != nil {
				return // another copy failed while this one waited
			}
			v, err := s.CreateFromSnapshot(ctx, subOpID(opID, strconv.Itoa(i+1)), snapID,
				CreateRequest{Name: name, NAT: req.NAT, NetGroup: req.NetGroup, Labels: req.Labels}, progress)
			if err != nil {
				mu.Lock()
				if first == nil {
					first = fmt.Errorf("copy %d of %d (%s): %w", i+1, len(names), name, err)
				}
				mu.Unlock()
				cancel()
				return
			}
			made[i] = &v
		})
	}
	wg.Wait()
	var out []VM
	for _, v := range made {
		if v != nil {
			out = append(out, *v)
		}
	}
	if first == nil && len(out) < len(names) {
		// Only the caller's context ends copies that way.
		first = fmt.Errorf("%d of %d copies made: %w", len(out), len(names), context.Cause(ctx))
	}
	return out, first
}

// roomForFork refuses count copies of src from snapshot snapID when
// their disk clones cannot all fit: copies made at once would each see
// room for one.
func (s *Service) roomForFork(ctx context.Context, src store.VM, snapID string, count int) error {
	sn, err := s.store.GetSnapshot(ctx, snapID)
	if err != nil {
		return err
	}
	return s.roomForClones(src.Dir, sn, count, fmt.Sprintf("forking VM %s into %d copies (clones of the disks of snapshot %s)", src.Name, count, sn.Name))
}

// discardCopies stops (at once: the copies have nothing to save) and
// deletes the copies of a failed fork, then the fork's snapshot.
func (s *Service) discardCopies(ctx context.Context, opID string, copies []VM, snapID string) error {
	var errs []error
	for i, c := range copies {
		if err := s.discardCopy(ctx, subOpID(opID, strconv.Itoa(i+1)+"-discard"), c.ID); err != nil {
			errs = append(errs, fmt.Errorf("delete copy %s: %w: delete it with banger vm delete %s", c.Name, err, c.Name))
		}
	}
	errs = append(errs, s.dropAutoSnapshot(ctx, snapID))
	return errors.Join(errs...)
}

// discardCopy kills and deletes VM id.
func (s *Service) discardCopy(ctx context.Context, opID, id string) error {
	rec, unlock, err := s.lockVM(ctx, id)
	if err != nil {
		return ignoreNotFound(err)
	}
	defer unlock()
	o, err := s.newOp(ctx, opID, "vm.delete", rec.ID, rec.Name, nil)
	if err != nil {
		return err
	}
	if err := o.runForward(ctx, append(s.stopSteps(&rec, false), s.deleteSteps(&rec)...)); err != nil {
		s.markError(ctx, &rec, err)
		return err
	}
	s.events.Publish(Event{Type: EventVM, Time: time.Now(), Target: rec.Name, State: StateDeleted})
	return nil
}

// serialProgress makes progress safe for the copies of a fork to call at
// once: one call at a time.
func serialProgress(progress Progress) Progress {
	if progress == nil {
		return nil
	}
	var mu sync.Mutex
	return func(ev Event) {
		mu.Lock()
		defer mu.Unlock()
		progress(ev)
	}
}

// forkNames are the names of count copies: name itself for one, name-1
// to name-count for more, generated names (sorted) without one. Names
// taken are refused here, before anything is made; generated names are
// chosen here so that copies made at once cannot draw the same.
func (s *Service) forkNames(ctx context.Context, name string, count int) ([]string, error) {
	out := make([]string, count)
	if name == "" {
		drawn := map[string]bool{}
		for i := range out {
			out[i] = names.Generate(func(n string) bool {
				if drawn[n] {
					return true
				}
				_, err := s.store.GetVM(ctx, n)
				return err == nil
			})
			drawn[out[i]] = true
		}
		slices.Sort(out)
		return out, nil
	}
	for i := range out {
		out[i] = name
		if count > 1 {
			out[i] = name + "-" + strconv.Itoa(i+1)
		}
		if err := names.Validate(out[i]); err != nil {
			return nil, err
		}
		if _, err := s.store.GetVM(ctx, out[i]); err == nil {
			return nil, errdefs.AlreadyExistsf("a VM named %q already exists: pick another --name or delete it with banger vm delete %s", out[i], out[i])
		}
	}
	return out, nil
}

// forkSnapshotName names the snapshot a fork of vmName makes:
// <vm>-fork-<n>, shortened to fit.
func (s *Service) forkSnapshotName(ctx context.Context, vmName string) string {
	base := vmName
	if len(base) > names.MaxLen-10 {
		base = base[:names.MaxLen-10]
	}
	for n := 1; ; n++ {
		name := base + "-fork-" + strconv.Itoa(n)
		if _, err := s.store.GetSnapshot(ctx, name); err != nil {
			return name
		}
	}
}

// dropAutoSnapshot deletes snapshot id when vm fork made it and no VM
// made from it is left.
func (s *Service) dropAutoSnapshot(ctx context.Context, id string) error {
	unlock := s.locks.lock(id)
	defer unlock()
	sn, err := s.store.GetSnapshot(ctx, id)
	if err != nil {
		return ignoreNotFound(err)
	}
	if !sn.Auto || sn.State != "ready" {
		return nil
	}
	users, err := s.snapshotUsers(ctx, id)
	if err != nil || len(users) > 0 {
		return err
	}
	o, err := s.newOp(ctx, "", "snapshot.delete", sn.ID, sn.Name, nil)
	if err != nil {
		return err
	}
	return o.runForward(ctx, s.deleteSnapshotSteps(&sn))
}

// dropUnusedAutoSnapshots deletes the snapshots of forks no VM uses any
// more: a daemon killed between deleting a fork's last VM and its
// snapshot, or during a fork before its first copy, left them.
func (s *Service) dropUnusedAutoSnapshots(ctx context.Context) error {
	snaps, err := s.store.ListSnapshots(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, sn := range snaps {
		if sn.Auto && sn.State == "ready" {
			errs = append(errs, s.dropAutoSnapshot(ctx, sn.ID))
		}
	}
	return errors.Join(errs...)
}
