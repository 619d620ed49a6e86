package vm

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"banger/internal/errdefs"
	"banger/internal/names"
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

// Fork saves the running or paused VM ref as a snapshot of its own (Auto:
// deleted with the last VM made from it) and makes req.Count VMs from it,
// one after the other, each a new machine (CreateFromSnapshot). The
// snapshot is the operation opID+"-snapshot", copy i is opID+"-<i>". It
// returns the copies made; when one fails, the error says so and the
// copies made so far stay. A fork that made no copy removes its snapshot.
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
	sn, err := s.snapshotVM(ctx, subOpID(opID, "snapshot"), src.ID, s.forkSnapshotName(ctx, src.Name), true, progress)
	if err != nil {
		return nil, err
	}
	var out []VM
	for i, name := range copyNames {
		v, err := s.CreateFromSnapshot(ctx, subOpID(opID, strconv.Itoa(i+1)), sn.ID,
			CreateRequest{Name: name, NAT: req.NAT, NetGroup: req.NetGroup, Labels: req.Labels}, progress)
		if err != nil {
			err = fmt.Errorf("copy %d of %d of %s: %w", i+1, count, src.Name, err)
			if len(out) == 0 {
				err = errors.Join(err, s.dropAutoSnapshot(context.WithoutCancel(ctx), sn.ID))
			}
			return out, err
		}
		out = append(out, v)
	}
	return out, nil
}

// forkNames are the names of count copies: name itself for one, name-1
// to name-count for more, generated names without one. Names taken are
// refused here, before anything is made.
func (s *Service) forkNames(ctx context.Context, name string, count int) ([]string, error) {
	out := make([]string, count)
	if name == "" {
		return out, nil // CreateFromSnapshot generates them
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
