package vm

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"banger/internal/agent/proto"
	"banger/internal/errdefs"
	"banger/internal/store"
	"banger/internal/vmm"
)

// restoreKind is the operation kind of a create from a snapshot.
const restoreKind = "vm.restore"

// CreateFromSnapshot makes a new VM from the ready snapshot snapRef and
// runs it: its disks are copy-on-write clones of the snapshot's, and its
// VMM loads the saved guest (Driver.Restore) instead of booting it. The
// VM's shape (image, vCPUs, memory, disk size) is the snapshot's: req
// names none, or the same. req.Name, req.NAT, req.NetGroup and req.Labels
// apply as for Create. The whole plan is one journaled operation; on
// failure, or a daemon killed part-way, everything is rolled back.
func (s *Service) CreateFromSnapshot(ctx context.Context, opID, snapRef string, req CreateRequest, progress Progress) (VM, error) {
	sn, err := s.store.GetSnapshot(ctx, snapRef)
	if err != nil {
		return VM{}, err
	}
	rec, img, err := s.prepareRestore(ctx, sn, req)
	if err != nil {
		return VM{}, err
	}
	if err := s.roomForRestore(rec, sn); err != nil {
		return VM{}, err
	}
	o, err := s.newOp(ctx, opID, restoreKind, rec.ID, rec.Name, progress)
	if err != nil {
		return VM{}, err
	}
	unlock := s.locks.lock(rec.ID)
	err = o.run(ctx, s.restoreSteps(&rec, img, sn))
	unlock()
	if err != nil {
		return VM{}, err
	}
	s.publishState(rec)
	return s.toVM(ctx, rec), nil
}

// prepareRestore checks req against snapshot sn and builds the record of
// the new VM. Nothing is written.
func (s *Service) prepareRestore(ctx context.Context, sn store.Snapshot, req CreateRequest) (store.VM, store.Image, error) {
	if req.Image != "" {
		// A name or id of the snapshot's image is no conflict.
		if img, err := s.store.GetImage(ctx, req.Image); err == nil && img.ID == sn.ImageID {
			req.Image = sn.ImageID
		}
	}
	if err := checkSnapshotShape(sn, req); err != nil {
		return store.VM{}, store.Image{}, err
	}
	if err := s.checkRestorable(sn); err != nil {
		return store.VM{}, store.Image{}, err
	}
	img, err := s.store.GetImage(ctx, sn.ImageID)
	if err != nil {
		return store.VM{}, store.Image{}, fmt.Errorf("image of snapshot %s: %w", sn.Name, err)
	}
	// The name, net group and labels are checked as for any create.
	req.Image, req.VCPUs, req.MemoryMiB, req.DiskBytes = img.ID, sn.VCPUs, sn.MemoryMiB, sn.DiskBytes
	if req, err = s.defaults.CheckCreate(req); err != nil {
		return store.VM{}, store.Image{}, err
	}
	if req.Name, err = s.newVMName(ctx, req.Name); err != nil {
		return store.VM{}, store.Image{}, err
	}
	id := NewID()
	runDir := s.dirs.VMRuntimeDir(id)
	rec := store.VM{
		ID:         id,
		Name:       req.Name,
		State:      string(StateCreating),
		ImageID:    img.ID,
		VCPUs:      sn.VCPUs,
		MemoryMiB:  sn.MemoryMiB,
		DiskBytes:  sn.DiskBytes,
		Driver:     sn.Driver,
		Dir:        s.dirs.VMDir(id),
		RuntimeDir: runDir,
		APISocket:  filepath.Join(runDir, apiSocketFile),
		// The restored guest holds the snapshot's token until the
		// reidentify step gives it this one.
		AgentToken: newToken(),
		NAT:        s.defaults.NAT,
		NetGroup:   req.NetGroup,
		Labels:     req.Labels,
		SnapshotID: sn.ID,
		CreatedAt:  time.Now(),
	}
	if req.NAT != nil {
		rec.NAT = *req.NAT
	}
	return rec, img, nil
}

// checkSnapshotShape refuses a request whose shape differs from the
// snapshot's: a restored guest has the memory and devices it was saved
// with.
func checkSnapshotShape(sn store.Snapshot, req CreateRequest) error {
	var bad []string
	if req.Image != "" && req.Image != sn.ImageID {
		bad = append(bad, "an image")
	}
	if req.VCPUs != 0 && req.VCPUs != sn.VCPUs {
		bad = append(bad, fmt.Sprintf("%d vCPUs (the snapshot has %d)", req.VCPUs, sn.VCPUs))
	}
	if req.MemoryMiB != 0 && req.MemoryMiB != sn.MemoryMiB {
		bad = append(bad, fmt.Sprintf("%d MiB of memory (the snapshot has %d)", req.MemoryMiB, sn.MemoryMiB))
	}
	if req.DiskBytes != 0 && req.DiskBytes != sn.DiskBytes {
		bad = append(bad, fmt.Sprintf("a %d-byte work disk (the snapshot's is %d)", req.DiskBytes, sn.DiskBytes))
	}
	if len(bad) > 0 {
		return errdefs.InvalidArgumentf("a VM made from snapshot %s has the snapshot's image, vCPUs, memory and work disk, and this request asks for %s: leave those out", sn.Name, joinAnd(bad))
	}
	return nil
}

// checkRestorable refuses a snapshot this daemon cannot load.
func (s *Service) checkRestorable(sn store.Snapshot) error {
	switch {
	case sn.State != "ready":
		return errdefs.FailedPreconditionf("snapshot %s is %s, not ready: wait for it, or take another with banger vm snapshot", sn.Name, sn.State)
	case sn.Driver != s.driver.Name():
		return errdefs.FailedPreconditionf("snapshot %s was saved by the %s driver and this daemon runs VMs with %s: only %s can load it; set vmm.driver to %s to use it", sn.Name, sn.Driver, s.driver.Name(), sn.Driver, sn.Driver)
	case sn.AgentToken == "":
		return errdefs.FailedPreconditionf("snapshot %s was saved by an older banger, which did not keep the guest agent's secret: take a new snapshot with banger vm snapshot", sn.Name)
	}
	return nil
}

// joinAnd joins parts as "a, b and c".
func joinAnd(parts []string) string {
	switch len(parts) {
	case 0:
		return ""
	case 1:
		return parts[0]
	}
	out := parts[0]
	for _, p := range parts[1 : len(parts)-1] {
		out += ", " + p
	}
	return out + " and " + parts[len(parts)-1]
}

// restoreSteps is the plan of a VM made from snapshot sn: create's
// record, lease and directory, disks cloned from the snapshot's, then
// start's runtime, identity and network, a VMM launched to load the
// snapshot, the load, and the guest resumed. The VM stays "creating"
// until the last step; a restarted daemon that finds it so runs every
// undo function in reverse (with empty img and sn: no undo needs them).
func (s *Service) restoreSteps(rec *store.VM, img store.Image, sn store.Snapshot) []step {
	spec := VMMSpec(*rec, img)
	spec.Restore = true
	var (
		proc vmm.Process
		att  NetAttachment
	)
	steps := []step{
		{
			name: "record",
			do: func(ctx context.Context) error {
				// Under the snapshot's lock, so that a delete of the
				// snapshot either sees this VM or runs before it.
				unlock := s.locks.lock(sn.ID)
				defer unlock()
				cur, err := s.store.GetSnapshot(ctx, sn.ID)
				if err != nil {
					return err
				}
				if err := s.checkRestorable(cur); err != nil {
					return err
				}
				return s.store.CreateVM(ctx, *rec)
			},
			undo: func(ctx context.Context) error { return ignoreNotFound(s.store.DeleteVM(ctx, rec.ID)) },
		},
	}
	if s.net != nil {
		steps = append(steps, s.leaseStep(rec))
	}
	steps = append(steps,
		step{
			name: "make-dir",
			do:   func(ctx context.Context) error { return s.dirs.MakeDir(rec.Dir) },
			undo: func(ctx context.Context) error { return os.RemoveAll(rec.Dir) },
		},
		step{
			name: "clone-disks", // copy-on-write clones where the host allows
			do: func(ctx context.Context) error {
				if err := s.disks.CloneRootDisk(ctx, filepath.Join(sn.Dir, rootDiskFile), filepath.Join(rec.Dir, rootDiskFile)); err != nil {
					return s.writeError(rec.Dir, err, "clone the root disk of snapshot %s", sn.Name)
				}
				// The work disk is a plain file whatever the root disk
				// strategy, as the snapshot's copy-disks step treats it.
				clone := s.disks.CloneRootDisk
				if rd, ok := s.disks.(RootDevices); ok {
					clone = rd.CopyFile
				}
				if err := clone(ctx, filepath.Join(sn.Dir, workDiskFile), filepath.Join(rec.Dir, workDiskFile)); err != nil {
					return s.writeError(rec.Dir, err, "clone the work disk of snapshot %s", sn.Name)
				}
				return nil
			},
			undo: func(ctx context.Context) error {
				return joinErrs(removeFile(filepath.Join(rec.Dir, rootDiskFile)), removeFile(filepath.Join(rec.Dir, workDiskFile)))
			},
		},
		s.prepareRuntimeStep(rec, img, &spec, false),
	)
	if _, ok := s.disks.(RootDevices); ok {
		// As at start: the root disk becomes a device before the VMM
		// opens it.
		steps = append(steps, s.attachRootStep(rec, &spec))
	}
	if spec.IdentityDisk != "" {
		// The restored guest read its identity at its first boot; the
		// disk is there for the device list to match the saved one, and
		// holds this VM's identity for its next cold boot.
		steps = append(steps, s.writeIdentityDiskStep(rec, spec.IdentityDisk))
	}
	return append(steps,
		s.attachStepInto(rec, &spec, &att),
		step{
			name: "launch-vmm",
			do: func(ctx context.Context) error {
				p, err := s.driver.Launch(ctx, spec)
				if err != nil {
					return err
				}
				proc = p
				rec.PID, rec.PIDStart = p.PID, p.StartTime
				return s.store.UpdateVM(context.WithoutCancel(ctx), *rec)
			},
			undo: func(ctx context.Context) error {
				s.agents.drop(rec.ID, nil)
				return s.killVMM(ctx, *rec)
			},
		},
		step{
			name: "load-snapshot",
			do:   func(ctx context.Context) error { return s.driver.Restore(ctx, spec, proc, snapshotFiles(sn)) },
		},
		step{
			name: "resume-vcpus",
			do:   func(ctx context.Context) error { return s.driver.Resume(ctx, proc) },
		},
		step{
			name: "reidentify",
			do:   func(ctx context.Context) error { return s.reidentify(ctx, *rec, spec, sn.AgentToken, att) },
		},
		step{
			name: "mark-running",
			do: func(ctx context.Context) error {
				rec.StartedAt = time.Now()
				rec.LastError = ""
				return s.setState(ctx, rec, StateRunning)
			},
		},
	)
}

// joinErrs is the first non-nil error of errs.
func joinErrs(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// snapshotUsers are the VMs made from snapshot id.
func (s *Service) snapshotUsers(ctx context.Context, id string) ([]string, error) {
	vms, err := s.store.ListVMs(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, v := range vms {
		if v.SnapshotID == id {
			out = append(out, v.Name)
		}
	}
	return out, nil
}

// reidentifyTimeout bounds the reidentify step: reaching the restored
// guest's agent, and the guest making new SSH host keys (seconds under
// software emulation).
const reidentifyTimeout = 3 * time.Minute

// reidentify makes the restored guest of rec a new machine: through its
// agent, reached with oldToken (the snapshot's, which the guest still
// holds), it sends rec's token and name, a new machine-id, the network
// settings of att, the host's time and fresh entropy. Once the agent has
// applied them it answers only to rec's token. A daemon without guest
// agent support (tests) skips it.
func (s *Service) reidentify(ctx context.Context, rec store.VM, spec vmm.Spec, oldToken string, att NetAttachment) error {
	if s.connect == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, reidentifyTimeout)
	defer cancel()
	id := proto.Identity{Token: rec.AgentToken, Hostname: rec.Name, MachineID: newMachineID()}
	if att.Addr.IsValid() {
		id.MAC, id.Address = att.MAC, att.Addr.String()
		if att.Gateway.IsValid() {
			id.Gateway = att.Gateway.String()
		}
		if att.DNS.IsValid() {
			id.DNS = att.DNS.String()
		}
	}
	id.Entropy = make([]byte, 64)
	_, _ = rand.Read(id.Entropy)
	var last error
	// The first attempts after the resume often meet an agent channel
	// the guest has not reopened yet, where a request hangs until its
	// timeout: they get a short one, doubled after each failure up to
	// attemptTimeout (a resumed agent answers in milliseconds once the
	// channel is up).
	attempt := firstReidentifyAttempt
	for {
		id.Time = time.Now()
		ag, err := s.sendIdentity(ctx, spec, oldToken, id, attempt)
		if err == nil {
			// The session now speaks with the new token: it serves the
			// VM's next requests (vm run's wait for ready first), and
			// the guest's new host keys are pinned as at any first
			// session.
			s.agents.put(rec.ID, ag)
			s.pinOnReady(ctx, rec, ag)
			return nil
		}
		attempt = min(2*attempt, attemptTimeout)
		// The agent may have applied it and the answer got lost: then
		// it answers to the new token.
		if s.answers(ctx, spec, rec.AgentToken) {
			return nil
		}
		// An answer from the agent (a refused token or identity) is
		// final; only an agent not reached yet is waited for.
		if errdefs.Is(err, errdefs.InvalidArgument) || errdefs.Is(err, errdefs.Internal) || errdefs.Is(err, errdefs.FailedPrecondition) {
			return fmt.Errorf("the guest agent of %s refused its new identity: %w", rec.Name, err)
		}
		last = err
		select {
		case <-ctx.Done():
			return errdefs.Unavailablef("the guest agent of %s did not take its new identity within %v (last error: %v): see banger vm logs %s", rec.Name, reidentifyTimeout, last, rec.Name)
		case <-time.After(readyPoll):
		}
	}
}

// firstReidentifyAttempt bounds the first attempt to reach a restored
// guest's agent (see reidentify).
const firstReidentifyAttempt = 500 * time.Millisecond

// sendIdentity sends id to the agent of spec's VMM with token, giving up
// on reaching the agent (dial and Ready) after attempt, and returns the
// session, which then holds id's token.
func (s *Service) sendIdentity(ctx context.Context, spec vmm.Spec, token string, id proto.Identity, attempt time.Duration) (Agent, error) {
	dctx, cancel := context.WithTimeout(ctx, attempt)
	conn, err := s.driver.DialAgent(dctx, spec, vmm.AgentPort)
	cancel()
	if err != nil {
		return nil, err
	}
	ag, err := s.connect(conn, token)
	if err != nil {
		return nil, err
	}
	rctx, cancel := context.WithTimeout(ctx, attempt)
	_, err = ag.Ready(rctx)
	cancel()
	if err == nil {
		err = ag.Reidentify(ctx, id)
	}
	if err != nil {
		_ = ag.Close()
		return nil, err
	}
	return ag, nil
}

// answers reports whether the agent of spec's VMM takes token.
func (s *Service) answers(ctx context.Context, spec vmm.Spec, token string) bool {
	actx, cancel := context.WithTimeout(ctx, attemptTimeout)
	defer cancel()
	conn, err := s.driver.DialAgent(actx, spec, vmm.AgentPort)
	if err != nil {
		return false
	}
	ag, err := s.connect(conn, token)
	if err != nil {
		return false
	}
	defer ag.Close()
	_, err = ag.Ready(actx)
	return err == nil
}

// newMachineID is a random machine-id: 32 lowercase hex digits.
func newMachineID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
