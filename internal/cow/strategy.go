package cow

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
)

// Strategy clones image files into VM disks. Implementations are safe for
// concurrent use.
type Strategy interface {
	// Name is the strategy's config name (one of Names).
	Name() string
	// Dir is the directory under which clones must be made for them to be
	// cheap (the VMs' directories go there), or "" when any directory on
	// the state directory's filesystem will do.
	Dir() string
	// Clone makes dst a copy of src that shares src's data until either is
	// written. dst is written under a temporary name and renamed into
	// place, so it is never seen half made and is absent when Clone fails.
	// src may be an image or another VM's disk (a snapshot of it at this
	// instant: the caller must make sure nothing writes src meanwhile).
	Clone(ctx context.Context, src, dst string) error
	// Remove deletes a clone; a missing one is not an error.
	Remove(path string) error
	// Usage reports the space path takes.
	Usage(path string) (Usage, error)
}

// Usage is the space one disk file takes.
type Usage struct {
	Apparent  int64 // its size
	Allocated int64 // the blocks allocated to it, shared ones included
}

// Strategy names, as the config key vm.disk_strategy takes them.
const (
	NameReflink = "reflink"
	NameLoopXFS = "loop-xfs"
	NameQCOW2   = "qcow2"
	NameSparse  = "sparse"
	NameDM      = "dm"
	NameAuto    = "auto"
)

// Names are the valid values of vm.disk_strategy.
var Names = []string{NameAuto, NameReflink, NameLoopXFS, NameDM, NameQCOW2, NameSparse}

// fileUsage stats path.
func fileUsage(path string) (Usage, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return Usage{}, fmt.Errorf("space used by %s: %w", path, err)
	}
	u := Usage{Apparent: fi.Size()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		u.Allocated = st.Blocks * 512
	}
	return u, nil
}

// removeFile removes path and the record of its format; a missing file is
// not an error.
func removeFile(path string) error {
	for _, p := range []string{path, path + formatSuffix} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove %s: %w", p, err)
		}
	}
	return nil
}
