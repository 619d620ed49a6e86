package disk

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"banger/internal/errdefs"
)

// writeAtomic creates dst by filling a temporary file next to it
// (dst+".tmp-<random>", mode 0600), syncing it and renaming it into place,
// so that dst is either absent, its old self, or complete. When noReplace
// is set an existing dst is an AlreadyExists error and is left alone. On
// any failure the temporary file is removed.
func writeAtomic(dst string, noReplace bool, fill func(f *os.File) error) (err error) {
	dir, base := filepath.Split(dst)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, base+".tmp-*")
	if err != nil {
		return fmt.Errorf("create temporary file for %s: %w", dst, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	// CreateTemp uses 0600 already; make it explicit against future change.
	if err := f.Chmod(0o600); err != nil {
		return fmt.Errorf("chmod %s: %w", tmp, err)
	}
	if err := fill(f); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmp, err)
	}
	if noReplace {
		err = renameNoReplace(tmp, dst)
	} else {
		err = os.Rename(tmp, dst)
	}
	if err != nil {
		return err
	}
	return syncDir(dir)
}

// renameNoReplace renames oldpath to newpath unless newpath exists. It
// uses renameat2(RENAME_NOREPLACE) and falls back to link+unlink on
// filesystems that lack it.
func renameNoReplace(oldpath, newpath string) error {
	err := unix.Renameat2(unix.AT_FDCWD, oldpath, unix.AT_FDCWD, newpath, unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
		if err = os.Link(oldpath, newpath); err == nil {
			// newpath is complete; a leftover oldpath is only litter.
			_ = os.Remove(oldpath)
			return nil
		}
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, os.ErrExist):
		return errdefs.AlreadyExistsf("%s already exists: delete it first or choose another path", newpath)
	}
	return fmt.Errorf("rename %s to %s: %w", oldpath, newpath, err)
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open directory %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}
