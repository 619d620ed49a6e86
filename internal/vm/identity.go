package vm

import (
	"context"
	"fmt"

	"banger/internal/identdisk"
	"banger/internal/store"
)

// readsIdentityDisk reports whether VMs of img get their identity on an
// identity disk (package identdisk) rather than written into their root
// disks with debugfs.
func readsIdentityDisk(img store.Image) bool {
	return img.Identity == store.ImageIdentityDisk
}

// writeIdentityDiskStep writes the VM's identity disk at path (empty: the
// image does not read one) at every start: hostname, agent token and
// banger's current authorized key, with plain file I/O. The image's
// banger-identity unit installs them at boot.
func (s *Service) writeIdentityDiskStep(rec *store.VM, path string) step {
	return step{
		name: "write-identity-disk",
		do: func(ctx context.Context) error {
			if path == "" {
				return nil
			}
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
