package firecracker

import (
	"fmt"
	"os"
	"path/filepath"

	"banger/internal/vmm"
)

// driveLinksDir is the directory, inside the VM's runtime directory and
// relative to firecracker's working directory (the runtime directory, see
// Launch), that holds one symbolic link per drive.
const driveLinksDir = "drives"

// drivePath is the path_on_host banger gives Firecracker for drive id:
// relative, so that Firecracker resolves it against its working
// directory, the VM's runtime directory, where it is a link to the VM's
// own disk. A snapshot records this path, not the disk's: loading it into
// another VM's firecracker opens that VM's disks through that VM's links,
// and never the disks of the VM the snapshot was taken of. No Firecracker
// release has a drive override on PUT /snapshot/load (drive_overrides is
// a proposal, firecracker#5774), and PATCH /drives is refused before the
// load; the jailer gets the same effect from a chroot per microVM.
func drivePath(id string) string { return filepath.Join(driveLinksDir, id) }

// linkDrives points the drive links in spec.RuntimeDir at spec's disks,
// replacing links a previous run of the VM left. Drives spec lacks have
// no link, so a drive a snapshot recorded that the new VM lacks fails
// the load instead of reaching another VM's disk.
func linkDrives(spec vmm.Spec) error {
	dir := filepath.Join(spec.RuntimeDir, driveLinksDir)
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove old drive links: %w", err)
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		return fmt.Errorf("create drive links directory: %w", err)
	}
	for _, d := range []struct{ id, disk string }{
		{RootDriveID, spec.RootDisk},
		{WorkDriveID, spec.WorkDisk},
		{IdentityDriveID, spec.IdentityDisk},
	} {
		if d.disk == "" {
			continue
		}
		if err := os.Symlink(d.disk, filepath.Join(spec.RuntimeDir, drivePath(d.id))); err != nil {
			return fmt.Errorf("link drive %s to %s: %w", d.id, d.disk, err)
		}
	}
	return nil
}
