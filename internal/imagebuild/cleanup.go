package imagebuild

import (
	"banger/internal/mountinfo"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// buildPrefix names the build areas inside WorkDir; each holds the
// bootstrap tree, the image being made and a lock its builder holds.
const buildPrefix = ".build-"

// BuildAreaPrefix starts the names of the build areas inside WorkDir, for
// the daemon's disk usage report.
const BuildAreaPrefix = buildPrefix

// buildArea is one build's private directory, locked while in use so that
// another build can tell a crashed build's leftovers from a running one.
//
// purge, when set, deletes the bootstrap tree first: an unshare build's
// tree holds files of the image's users that only root of the build's
// user namespace may delete.
type buildArea struct {
	dir   string
	lock  *os.File
	purge func(dir string) error
}

func newBuildArea(workDir string, purge func(dir string) error) (*buildArea, error) {
	if err := os.MkdirAll(workDir, 0o755); err != nil {
		return nil, fmt.Errorf("create image directory %s: %w", workDir, err)
	}
	removeStaleAreas(workDir, purge)
	dir, err := os.MkdirTemp(workDir, buildPrefix)
	if err != nil {
		return nil, fmt.Errorf("create a build directory in %s: %w", workDir, err)
	}
	lock, err := lockArea(dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return &buildArea{dir: dir, lock: lock, purge: purge}, nil
}

// lockArea takes the area's lock without waiting.
func lockArea(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	return f, nil
}

// remove deletes the area and everything in it.
func (a *buildArea) remove() error {
	defer a.lock.Close()
	if err := purgeTree(a.dir, a.purge); err != nil {
		return err
	}
	return removeTree(a.dir)
}

// purgeTree runs purge on the area's bootstrap tree, if there is one.
func purgeTree(dir string, purge func(string) error) error {
	if purge == nil {
		return nil
	}
	return purge(filepath.Join(dir, "tree"))
}

// removeStaleAreas removes build areas nobody holds the lock of: what a
// build killed mid-way left behind.
func removeStaleAreas(workDir string, purge func(string) error) {
	matches, _ := filepath.Glob(filepath.Join(workDir, buildPrefix+"*"))
	for _, dir := range matches {
		lock, err := lockArea(dir)
		if err != nil {
			continue // in use, or not ours to judge
		}
		_ = purgeTree(dir, purge)
		_ = removeTree(dir)
		lock.Close()
	}
}

// removeTree deletes dir. A bootstrap that was killed can leave /proc,
// /sys or /dev mounted inside its tree; deleting through them would
// destroy host files, so they are detached first and dir is left alone
// if any mount remains.
func removeTree(dir string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	mounts, err := mountsUnder(abs)
	if err != nil {
		return err
	}
	for _, m := range mounts {
		_ = unix.Unmount(m, unix.MNT_DETACH)
	}
	if mounts, err = mountsUnder(abs); err != nil {
		return err
	}
	if len(mounts) > 0 {
		return fmt.Errorf("not deleting %s: %s is still mounted inside it: unmount it and delete the directory", dir, mounts[0])
	}
	return os.RemoveAll(abs)
}

// mountsUnder lists the mount points at or below dir, deepest first.
func mountsUnder(dir string) ([]string, error) {
	ms, err := mountinfo.Read()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, m := range ms {
		if m.Dir == dir || strings.HasPrefix(m.Dir, dir+"/") {
			out = append(out, m.Dir)
		}
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out, nil
}
