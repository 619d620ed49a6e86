package vm

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"banger/internal/errdefs"
	"banger/internal/names"
	"banger/internal/store"
)

// Files inside a VM's directory.
const (
	rootDiskFile   = "root.ext4"
	workDiskFile   = "work.ext4"
	identityFile   = "identity.img"
	consoleLogFile = "console.log"
	vmmLogFile     = "vmm.log"
	apiSocketFile  = "api.sock"
	vsockFile      = "vsock.sock"
	metricsFile    = "metrics.json"
)

// Create records a new VM and prepares its disks. The VM ends stopped, or
// running when req.Start is set; with req.Warm see createWarm. On failure
// everything is rolled back.
func (s *Service) Create(ctx context.Context, opID string, req CreateRequest, progress Progress) (VM, error) {
	if _, ok := req.Labels[warmLabel]; ok {
		return VM{}, errdefs.InvalidArgumentf("label key %q is banger's own (it marks warm-start builder VMs): use another key", warmLabel)
	}
	if req.FromSnapshot != "" {
		return s.CreateFromSnapshot(ctx, opID, req.FromSnapshot, req, progress)
	}
	if req.Warm {
		return s.createWarm(ctx, opID, req, progress)
	}
	return s.create(ctx, opID, req, progress)
}

// create is Create without the check of reserved labels.
func (s *Service) create(ctx context.Context, opID string, req CreateRequest, progress Progress) (VM, error) {
	rec, img, err := s.prepareCreate(ctx, req)
	if err != nil {
		return VM{}, err
	}
	if err := s.roomForCreate(rec, img); err != nil {
		return VM{}, err
	}
	o, err := s.newOp(ctx, opID, "vm.create", rec.ID, rec.Name, progress)
	if err != nil {
		return VM{}, err
	}
	unlock := s.locks.lock(rec.ID)
	err = o.run(ctx, s.createSteps(&rec, img))
	unlock()
	if err != nil {
		return VM{}, err
	}
	s.publishState(rec)
	if req.Start {
		return s.Start(ctx, subOpID(opID, "start"), rec.ID, progress)
	}
	return s.toVM(ctx, rec), nil
}

// prepareCreate validates req against the defaults and the store and builds
// the record of the new VM. Nothing is written.
func (s *Service) prepareCreate(ctx context.Context, req CreateRequest) (store.VM, store.Image, error) {
	req, err := s.defaults.CheckCreate(req)
	if err != nil {
		return store.VM{}, store.Image{}, err
	}
	d := s.defaults
	img, err := s.store.GetImage(ctx, req.Image)
	if err != nil {
		return store.VM{}, store.Image{}, err
	}
	if img.State == store.ImagePulled {
		return store.VM{}, store.Image{}, errdefs.FailedPreconditionf("image %q (%s) was pulled by an older banger, which made no root disk of it: "+
			"remove it with \"banger image rm %s\" and pull it again",
			img.Name, img.Source, img.Name)
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
		VCPUs:      req.VCPUs,
		MemoryMiB:  req.MemoryMiB,
		DiskBytes:  req.DiskBytes,
		Driver:     s.driver.Name(),
		Dir:        s.dirs.VMDir(id),
		RuntimeDir: runDir,
		APISocket:  filepath.Join(runDir, apiSocketFile),
		AgentToken: newToken(),
		NAT:        d.NAT,
		NetGroup:   req.NetGroup,
		Labels:     req.Labels,
		CreatedAt:  time.Now(),
	}
	if req.NAT != nil {
		rec.NAT = *req.NAT
	}
	return rec, img, nil
}

// subOpID names the second operation of a request that runs two (create
// then start, stop then start); "" lets newOp pick an id.
func subOpID(opID, suffix string) string {
	if opID == "" {
		return ""
	}
	return opID + "-" + suffix
}

func (s *Service) generateName(ctx context.Context) string {
	return names.Generate(func(n string) bool {
		_, err := s.store.GetVM(ctx, n)
		return err == nil
	})
}

// createSteps is the create plan. Its undo functions also serve a restarted
// daemon that finds a VM still "creating": it runs them all, in reverse.
func (s *Service) createSteps(rec *store.VM, img store.Image) []step {
	root := filepath.Join(rec.Dir, rootDiskFile)
	work := filepath.Join(rec.Dir, workDiskFile)
	steps := []step{
		{
			name: "record",
			do:   func(ctx context.Context) error { return s.store.CreateVM(ctx, *rec) },
			undo: func(ctx context.Context) error { return ignoreNotFound(s.store.DeleteVM(ctx, rec.ID)) },
		},
	}
	if s.net != nil {
		steps = append(steps, s.leaseStep(rec))
	}
	steps = append(steps, []step{
		{
			name: "make-dir",
			do:   func(ctx context.Context) error { return s.dirs.MakeDir(rec.Dir) },
			undo: func(ctx context.Context) error { return os.RemoveAll(rec.Dir) },
		},
		{
			name: "copy-root-disk", // a copy-on-write clone where the host allows
			do: func(ctx context.Context) error {
				// An image that reads the identity disk gets an overlay
				// where the strategy makes them; the identity of one that
				// does not is written into the root disk with debugfs,
				// which reads raw disks only.
				clone := s.disks.CloneRootDisk
				if readsIdentityDisk(img) {
					clone = s.disks.CloneImage
				}
				if err := clone(ctx, img.RootFS, root); err != nil {
					return s.writeError(rec.Dir, err, "copy root disk of image %s", img.Name)
				}
				return nil
			},
			undo: func(ctx context.Context) error { return removeFile(root) },
		},
	}...)
	if !readsIdentityDisk(img) {
		// The image does not read the identity disk: write the identity
		// into the root disk. (Every journaled step costs a store write,
		// so images that read it have no such step.)
		steps = append(steps, s.writeIdentityStep(rec, root))
	}
	return append(steps, []step{
		{
			name: "create-work-disk",
			do: func(ctx context.Context) error {
				if err := s.disks.CreateWorkDisk(ctx, work, rec.DiskBytes); err != nil {
					return s.writeError(rec.Dir, err, "create the work disk")
				}
				return nil
			},
			undo: func(ctx context.Context) error { return removeFile(work) },
		},
		{
			name: "finish",
			do: func(ctx context.Context) error {
				rec.State = string(StateStopped)
				return s.store.UpdateVM(ctx, *rec)
			},
		},
	}...)
}

// writeIdentityStep writes the VM's identity into its root disk with
// debugfs, for an image that does not read the identity disk (images that
// do get it on their identity disk at every start instead).
func (s *Service) writeIdentityStep(rec *store.VM, root string) step {
	return step{
		name: "write-identity",
		do: func(ctx context.Context) error {
			keys, err := s.sshFiles()
			if err != nil {
				return err
			}
			err = s.withRootDisk(ctx, rec.ID, root, func(path string) error {
				return s.disks.WriteFiles(ctx, path, append(IdentityFiles(*rec), keys...))
			})
			if err != nil {
				return s.writeError(rec.Dir, err, "write the identity of %s into its root disk", rec.Name)
			}
			return nil
		},
	}
}

// IdentityFiles are what makes a copy of an image this VM: its hostname
// and the secret its guest agent checks. The benchmarks' floor writes its
// VMs' identity with it.
func IdentityFiles(rec store.VM) []GuestFile {
	hosts := "127.0.0.1\tlocalhost\n127.0.1.1\t" + rec.Name + "\n::1\tlocalhost ip6-localhost ip6-loopback\n"
	return []GuestFile{
		{Path: "/etc/hostname", Data: []byte(rec.Name + "\n"), Mode: 0o644},
		{Path: "/etc/hosts", Data: []byte(hosts), Mode: 0o644},
		{Path: agentTokenPath, Data: []byte(rec.AgentToken), Mode: 0o600},
	}
}

// agentTokenPath is where the guest agent reads its secret.
const agentTokenPath = "/etc/banger/agent-token"

// writeError wraps the error of a disk write of a create into dir. A
// write that ran out of room (ENOSPC, or a tool that failed while the
// filesystem is nearly full) is a FailedPrecondition saying what to do:
// the create is rolled back, so freeing space and retrying works.
func (s *Service) writeError(dir string, err error, format string, args ...any) error {
	what := fmt.Sprintf(format, args...)
	full := errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
	if !full && s.space != nil {
		full = errors.Is(s.space.CheckRoom(dir, nearlyFull, what), syscall.ENOSPC)
	}
	if full {
		return errdefs.Wrap(errdefs.FailedPrecondition, fmt.Errorf("%s: %w: the filesystem is full; the VM was not created: free some space (\"banger system df\" shows what banger uses) and try again", what, err))
	}
	return fmt.Errorf("%s: %w", what, err)
}

// nearlyFull is how little room left counts as a full filesystem when a
// disk tool fails.
const nearlyFull = 1 << 20

func ignoreNotFound(err error) error {
	if errdefs.Is(err, errdefs.NotFound) {
		return nil
	}
	return err
}

func removeFile(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// newVMName is name checked to be free, or a generated one when empty.
func (s *Service) newVMName(ctx context.Context, name string) (string, error) {
	if name == "" {
		return s.generateName(ctx), nil
	}
	if _, err := s.store.GetVM(ctx, name); err == nil {
		return "", errdefs.AlreadyExistsf("a VM named %q already exists: pick another name or delete it with banger vm delete %s", name, name)
	}
	return name, nil
}
