package vm

import (
	"context"
	"fmt"

	"banger/internal/identdisk"
	"banger/internal/store"
	"banger/internal/vmm"
)

// readsIdentityDisk reports whether VMs of img get their identity on an
// identity disk (package identdisk) rather than written into their root
// disks with debugfs.
func readsIdentityDisk(img store.Image) bool {
	return img.Identity == store.ImageIdentityDisk
}

// identityStep is the start step that brings the VM its identity: the
// identity disk when spec has one, else banger's SSH key written into the
// root disk (the rest of the identity went there at create).
func (s *Service) identityStep(rec *store.VM, spec *vmm.Spec) step {
	if spec.IdentityDisk == "" {
		// The root disk is read when the step runs: attachRootStep may
		// have made it a device.
		return s.writeSSHKeyStep(rec, func() string { return spec.RootDisk })
	}
	return s.writeIdentityDiskStep(rec, spec.IdentityDisk)
}

// writeIdentityDiskStep writes the VM's identity disk at path at every
// start: hostname, agent token and banger's current authorized key, with
// plain file I/O. The image's banger-identity unit installs them at boot.
func (s *Service) writeIdentityDiskStep(rec *store.VM, path string) step {
	return step{
		name: "write-identity-disk",
		do: func(ctx context.Context) error {
			keys, err := s.sshFiles()
			if err != nil {
				return err
			}
			files := append(IdentityFiles(*rec), keys...)
			out := make([]identdisk.File, 0, len(files))
			for _, f := range files {
				out = append(out, identdisk.File{Path: f.Path, Data: f.Data, Mode: f.Mode})
			}
			if err := identdisk.WriteFile(path, out); err != nil {
				return fmt.Errorf("write the identity disk of %s: %w", rec.Name, err)
			}
			return nil
		},
	}
}
