package vm

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"banger/internal/errdefs"
	"banger/internal/names"
	"banger/internal/store"
	"banger/internal/vmm"
)

// Files inside a snapshot's directory.
const (
	snapStateFile  = "vmm.state"
	snapMemoryFile = "memory"
)

// Snapshot is a VM's saved state as the service reports it.
type Snapshot struct {
	ID        string
	Name      string
	State     string // "creating", "ready", "deleting"
	VM        string // the name of the VM it was taken of
	VMID      string
	Image     string // the image's name (its id when the image is gone)
	Driver    string
	VCPUs     int
	MemoryMiB int
	DiskBytes int64
	SizeBytes int64 // bytes its files take on disk
	CreatedAt time.Time
	Dir       string // where its files are
	InUse     bool   // snapshot prune leaves it alone (see snapshotInUse)
	Warm      bool   // a warm-start snapshot (see warm.go)
	// Auto: vm fork made it; it goes with the last VM made from it.
	Auto bool
}

// SnapshotVM saves the running or paused VM ref: its VMM state and memory
// and copies of its disks taken while the guest is paused, so memory and
// disks agree. A running VM is paused for the copy and then continues. An
// empty name gets a generated one. On failure everything is rolled back.
func (s *Service) SnapshotVM(ctx context.Context, opID, ref, name string, progress Progress) (Snapshot, error) {
	return s.snapshotVM(ctx, opID, ref, name, false, progress)
}

// snapshotVM is SnapshotVM; auto marks a snapshot vm fork makes, removed
// with the last VM made from it.
func (s *Service) snapshotVM(ctx context.Context, opID, ref, name string, auto bool, progress Progress) (Snapshot, error) {
	rec, unlock, err := s.lockVM(ctx, ref)
	if err != nil {
		return Snapshot{}, err
	}
	defer unlock()
	if !live(State(rec.State)) {
		return Snapshot{}, errdefs.FailedPreconditionf("VM %s is %s: only a running or paused VM can be saved; start it with banger vm start %s", rec.Name, rec.State, rec.Name)
	}
	if name == "" {
		name = names.Generate(func(n string) bool {
			_, err := s.store.GetSnapshot(ctx, n)
			return err == nil
		})
	} else if err := names.ValidateAs("snapshot", name); err != nil {
		return Snapshot{}, err
	}
	if _, err := s.store.GetSnapshot(ctx, name); err == nil {
		return Snapshot{}, errdefs.AlreadyExistsf("a snapshot named %q already exists: pick another name or remove it with banger snapshot rm %s", name, name)
	}
	id := NewID()
	sn := store.Snapshot{ID: id, Name: name, State: "creating", VMID: rec.ID, VMName: rec.Name,
		ImageID: rec.ImageID, Driver: s.driverOf(rec).Name(), VCPUs: rec.VCPUs, MemoryMiB: rec.MemoryMiB,
		DiskBytes: rec.DiskBytes, Dir: s.dirs.SnapshotDir(id), AgentToken: rec.AgentToken, Auto: auto}
	o, err := s.newOp(ctx, opID, "snapshot.create", sn.ID, rec.Name, progress)
	if err != nil {
		return Snapshot{}, err
	}
	if err := o.run(ctx, s.snapshotSteps(&sn, &rec, State(rec.State) == StateRunning)); err != nil {
		return Snapshot{}, err
	}
	return s.toSnapshot(ctx, sn), nil
}

// snapshotSteps is the snapshot plan of VM rec; pause says the plan pauses
// the guest (it runs) and resumes it at the end. A restarted daemon that
// finds a snapshot still "creating" runs the undo functions in reverse:
// whether the guest must be resumed it learns from the journal (see
// reconcileSnapshot).
func (s *Service) snapshotSteps(sn *store.Snapshot, rec *store.VM, pause bool) []step {
	d := s.driverOf(*rec)
	p := vmm.Process{PID: rec.PID, StartTime: rec.PIDStart, APISocket: rec.APISocket}
	files := snapshotFiles(*sn)
	steps := []step{
		{
			name: "record",
			do:   func(ctx context.Context) error { return s.store.CreateSnapshot(ctx, *sn) },
			undo: func(ctx context.Context) error { return ignoreNotFound(s.store.DeleteSnapshot(ctx, sn.ID)) },
		},
		{
			name: "make-dir",
			do:   func(ctx context.Context) error { return s.dirs.MakeDir(sn.Dir) },
			undo: func(ctx context.Context) error { return os.RemoveAll(sn.Dir) },
		},
	}
	if pause {
		steps = append(steps, step{
			name: "pause-vcpus",
			do:   func(ctx context.Context) error { return d.Pause(ctx, p) },
			undo: func(ctx context.Context) error { return resumeLive(ctx, d, p) },
		})
	}
	steps = append(steps,
		step{
			name: "save-state",
			do:   func(ctx context.Context) error { return d.Snapshot(ctx, p, files) },
		},
		step{
			name: "copy-disks",
			do: func(ctx context.Context) error {
				if err := s.disks.CloneRootDisk(ctx, filepath.Join(rec.Dir, rootDiskFile), filepath.Join(sn.Dir, rootDiskFile)); err != nil {
					return err
				}
				// The work disk is a plain file whatever the root disk
				// strategy: where root disks are devices it is copied,
				// not made one.
				clone := s.disks.CloneRootDisk
				if rd, ok := s.disks.(RootDevices); ok {
					clone = rd.CopyFile
				}
				return clone(ctx, filepath.Join(rec.Dir, workDiskFile), filepath.Join(sn.Dir, workDiskFile))
			},
		},
	)
	if pause {
		steps = append(steps, step{
			name: "resume-vcpus",
			do:   func(ctx context.Context) error { return d.Resume(ctx, p) },
		})
	}
	return append(steps, step{
		name: "finish",
		do: func(ctx context.Context) error {
			sn.State = "ready"
			sn.SizeBytes = diskUsage(sn.Dir)
			return s.store.UpdateSnapshot(ctx, *sn)
		},
	})
}

// resumeLive resumes the guest of p unless its VMM is gone.
func resumeLive(ctx context.Context, d vmm.Driver, p vmm.Process) error {
	if err := d.Resume(ctx, p); err != nil && !errors.Is(err, vmm.ErrNotRunning) {
		return err
	}
	return nil
}

// snapshotFiles are the VMM files of snapshot sn.
func snapshotFiles(sn store.Snapshot) vmm.SnapshotFiles {
	return vmm.SnapshotFiles{State: filepath.Join(sn.Dir, snapStateFile), Memory: filepath.Join(sn.Dir, snapMemoryFile)}
}

// diskUsage is the bytes the regular files under dir take on disk
// (allocated blocks: sparse disk copies count what they hold).
func diskUsage(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, e fs.DirEntry, err error) error {
		if err != nil || !e.Type().IsRegular() {
			return nil
		}
		if fi, err := e.Info(); err == nil {
			if st, ok := fi.Sys().(*syscall.Stat_t); ok {
				n += st.Blocks * 512
			}
		}
		return nil
	})
	return n
}

// Snapshots lists every snapshot, oldest first.
func (s *Service) Snapshots(ctx context.Context) ([]Snapshot, error) {
	recs, err := s.store.ListSnapshots(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Snapshot, 0, len(recs))
	for _, r := range recs {
		out = append(out, s.toSnapshot(ctx, r))
	}
	return out, nil
}

// GetSnapshot returns the snapshot named or with the id ref.
func (s *Service) GetSnapshot(ctx context.Context, ref string) (Snapshot, error) {
	r, err := s.store.GetSnapshot(ctx, ref)
	if err != nil {
		return Snapshot{}, err
	}
	return s.toSnapshot(ctx, r), nil
}

// DeleteSnapshot removes a snapshot's files and record. One still being
// made is refused.
func (s *Service) DeleteSnapshot(ctx context.Context, opID, ref string, progress Progress) error {
	ctx = context.WithoutCancel(ctx)
	sn, err := s.store.GetSnapshot(ctx, ref)
	if err != nil {
		return err
	}
	unlock := s.locks.lock(sn.ID)
	defer unlock()
	if sn, err = s.store.GetSnapshot(ctx, sn.ID); err != nil {
		return err
	}
	if sn.State == "creating" {
		return errdefs.FailedPreconditionf("snapshot %s is still being made: wait for it to finish, then try again", sn.Name)
	}
	users, err := s.snapshotUsers(ctx, sn.ID)
	if err != nil {
		return err
	}
	if len(users) > 0 {
		return errdefs.FailedPreconditionf("snapshot %s is in use by the VMs made from it (%s): delete them first with banger vm delete", sn.Name, joinAnd(users))
	}
	o, err := s.newOp(ctx, opID, "snapshot.delete", sn.ID, sn.Name, progress)
	if err != nil {
		return err
	}
	return o.runForward(ctx, s.deleteSnapshotSteps(&sn))
}

// deleteSnapshotSteps removes snapshot sn; every step is safe to repeat.
func (s *Service) deleteSnapshotSteps(sn *store.Snapshot) []step {
	return []step{
		{name: "mark-deleting", do: func(ctx context.Context) error {
			sn.State = "deleting"
			return s.store.UpdateSnapshot(ctx, *sn)
		}},
		{name: "remove-files", do: func(ctx context.Context) error { return os.RemoveAll(sn.Dir) }},
		{name: "remove-record", do: func(ctx context.Context) error { return ignoreNotFound(s.store.DeleteSnapshot(ctx, sn.ID)) }},
	}
}

func (s *Service) toSnapshot(ctx context.Context, r store.Snapshot) Snapshot {
	out := Snapshot{ID: r.ID, Name: r.Name, State: r.State, VM: r.VMName, VMID: r.VMID, Image: r.ImageID,
		Driver: r.Driver, VCPUs: r.VCPUs, MemoryMiB: r.MemoryMiB, DiskBytes: r.DiskBytes,
		SizeBytes: r.SizeBytes, CreatedAt: r.CreatedAt, Dir: r.Dir, Auto: r.Auto}
	out.InUse, _ = s.snapshotInUse(ctx, r)
	if keys, err := s.store.WarmKeys(ctx); err == nil {
		out.Warm = keys[r.ID] != ""
	}
	if img, err := s.store.GetImage(ctx, r.ImageID); err == nil {
		out.Image = img.Name
	}
	return out
}

// reconcileSnapshots finishes what a killed daemon left of snapshot
// operations: a snapshot still "creating" is undone (files and record),
// and the guest its plan paused is resumed, which the journal tells (a
// "pause-vcpus" step started, "resume-vcpus" did not finish); one
// "deleting", or whose delete was interrupted, is deleted.
func (s *Service) reconcileSnapshots(ctx context.Context, ops []store.Operation) error {
	snaps, err := s.store.ListSnapshots(ctx)
	if err != nil {
		return err
	}
	opOf := make(map[string]store.Operation, len(ops))
	for _, o := range ops {
		opOf[o.Target] = o
	}
	var errs []error
	for _, sn := range snaps {
		state := sn.State
		// A delete may have died before it marked the snapshot: the
		// journal, not the state, says it must finish.
		if opOf[sn.ID].Kind == "snapshot.delete" {
			state = "deleting"
		}
		switch state {
		case "creating":
			s.log.Info("rolling back interrupted snapshot", "snapshot", sn.Name)
			if err := s.resumeIfPausedBy(ctx, sn, opOf[sn.ID]); err != nil {
				errs = append(errs, fmt.Errorf("snapshot %s: %w", sn.Name, err))
			}
			if err := os.RemoveAll(sn.Dir); err != nil {
				errs = append(errs, err)
			}
			errs = append(errs, ignoreNotFound(s.store.DeleteSnapshot(ctx, sn.ID)))
		case "deleting":
			s.log.Info("finishing interrupted snapshot delete", "snapshot", sn.Name)
			errs = append(errs, runAll(ctx, s.deleteSnapshotSteps(&sn)))
		}
	}
	return errors.Join(errs...)
}

// resumeIfPausedBy resumes the VM of snapshot sn when the interrupted
// operation o paused it and did not resume it, and records it running.
func (s *Service) resumeIfPausedBy(ctx context.Context, sn store.Snapshot, o store.Operation) error {
	if o.ID == "" {
		return nil
	}
	steps, err := s.store.Steps(ctx, o.ID)
	if err != nil {
		return err
	}
	// A step is done once the next one started: the guest was resumed
	// when "finish" started.
	paused, resumed := false, false
	for _, st := range steps {
		paused = paused || (st.Step == "pause-vcpus" && st.Status == "started")
		resumed = resumed || (st.Step == "finish" && st.Status == "started")
	}
	if !paused || resumed {
		return nil
	}
	unlock := s.locks.lock(sn.VMID)
	defer unlock()
	rec, err := s.store.GetVM(ctx, sn.VMID)
	if err != nil || !live(State(rec.State)) {
		return ignoreNotFound(err)
	}
	d := s.driverOf(rec)
	if err := resumeLive(ctx, d, vmm.Process{PID: rec.PID, StartTime: rec.PIDStart, APISocket: rec.APISocket}); err != nil {
		return err
	}
	if State(rec.State) != StateRunning {
		return s.setState(ctx, &rec, StateRunning)
	}
	return nil
}
