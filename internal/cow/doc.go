// Package cow makes VM root disks as copy-on-write clones of image files,
// with the best mechanism the host offers: reflink clones (FICLONE) when
// the state directory's filesystem supports them, a banger-managed XFS
// filesystem in a file under the state directory mounted over a loop
// device when it does not, device-mapper snapshots of the image (made
// with ioctls over loop devices, at VM start, by the root helper for an
// unprivileged daemon) where the host has device-mapper, and a sparse
// copy as the last resort. Open probes the state directory and the host
// and picks one, saying why.
//
// It owns the clone mechanism, the XFS backing file, its loop device and
// its mount, the dm strategy's devices (named banger-<id>) and their loop
// devices (and nothing else: it never mounts anything but that file on
// that mount point), and reports the space a disk takes. It must not
// decide which image or disk a VM gets (the VM and image services do),
// nor write into the filesystems it clones.
package cow
