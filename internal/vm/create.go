package vm

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"banger/internal/errdefs"
	"banger/internal/names"
	"banger/internal/store"
)

// Files inside a VM's directory.
const (
	rootDiskFile   = "root.ext4"
	workDiskFile   = "work.ext4"
	consoleLogFile = "console.log"
	vmmLogFile     = "vmm.log"
	apiSocketFile  = "api.sock"
	vsockFile      = "vsock.sock"
	metricsFile    = "metrics.json"
)

// Create records a new VM and prepares its disks. The VM ends stopped, or
// running when req.Start is set. On failure everything is rolled back.
func (s *Service) Create(ctx context.Context, opID string, req CreateRequest, progress Progress) (VM, error) {
	rec, img, err := s.prepareCreate(ctx, req)
	if err != nil {
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
	if req.Name == "" {
		req.Name = s.generateName(ctx)
	} else if _, err := s.store.GetVM(ctx, req.Name); err == nil {
		return store.VM{}, store.Image{}, errdefs.AlreadyExistsf("a VM named %q already exists: pick another name or delete it with banger vm delete %s", req.Name, req.Name)
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
	return append(steps, []step{
		{
			name: "make-dir",
			do:   func(ctx context.Context) error { return s.dirs.MakeDir(rec.Dir) },
			undo: func(ctx context.Context) error { return os.RemoveAll(rec.Dir) },
		},
		{
			name: "copy-root-disk",
			do: func(ctx context.Context) error {
				if err := s.disks.SparseCopy(ctx, img.RootFS, root); err != nil {
					return fmt.Errorf("copy root disk of image %s: %w", img.Name, err)
				}
				return nil
			},
			undo: func(ctx context.Context) error { return removeFile(root) },
		},
		{
			name: "write-identity",
			do: func(ctx context.Context) error {
				keys, err := s.sshFiles()
				if err != nil {
					return err
				}
				if err := s.disks.WriteFiles(ctx, root, append(IdentityFiles(*rec), keys...)); err != nil {
					return fmt.Errorf("write the identity of %s into its root disk: %w", rec.Name, err)
				}
				return nil
			},
		},
		{
			name: "create-work-disk",
			do:   func(ctx context.Context) error { return s.disks.CreateWorkDisk(ctx, work, rec.DiskBytes) },
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
