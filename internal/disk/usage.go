package disk

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"syscall"

	"banger/internal/errdefs"
)

// Usage is what a file or a directory tree takes: Apparent is the sum of
// the regular files' sizes, Allocated the bytes their blocks occupy on
// disk (st_blocks × 512; less than Apparent for sparse files, more for
// small ones). Shared is the part of Allocated in blocks the filesystem
// shares with another file (FIEMAP_EXTENT_SHARED: a reflink clone and its
// image, on XFS or btrfs), so Allocated − Shared is what the files hold
// alone. OnDisk is Allocated with every block shared between the files
// measured counted once: what they take together. Files counts the
// regular files. Hard links are counted once.
type Usage struct {
	Apparent  int64
	Allocated int64
	Shared    int64
	OnDisk    int64
	Files     int
}

// Add returns the sum of u and o. Its OnDisk is the sum too, which
// counts a block u and o share twice: measure both with one Meter to
// count it once.
func (u Usage) Add(o Usage) Usage {
	return Usage{Apparent: u.Apparent + o.Apparent, Allocated: u.Allocated + o.Allocated, Shared: u.Shared + o.Shared,
		OnDisk: u.OnDisk + o.OnDisk, Files: u.Files + o.Files}
}

// Exclusive is the allocated bytes no other file shares: about what
// removing the files frees.
func (u Usage) Exclusive() int64 { return u.Allocated - u.Shared }

// UsageOf measures the file or directory tree at path without following
// symlinks (a symlink counts as nothing). A path that does not exist
// takes nothing. Directories' own blocks are not counted, so a tree's
// Allocated is what removing its files would free, less what it shares
// (Shared).
func UsageOf(path string) (Usage, error) {
	return NewMeter().Measure(path)
}

// Meter measures several paths and what they take together: Total counts
// a file reached through more than one path once, and a block shared by
// files of different paths (an image and its clones) once.
type Meter struct {
	seen   map[[2]uint64]bool
	total  Usage
	shared map[uint64][]physRange // per device: the shared physical ranges met
}

// NewMeter returns a Meter that has measured nothing.
func NewMeter() *Meter {
	return &Meter{seen: map[[2]uint64]bool{}, shared: map[uint64][]physRange{}}
}

// Measure measures the file or tree at path as UsageOf does (its OnDisk
// counts the blocks shared within path once) and adds it to the total.
func (m *Meter) Measure(path string) (Usage, error) {
	var (
		u      Usage
		seen   = map[[2]uint64]bool{}
		shared = map[uint64][]physRange{}
	)
	err := filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed while we walked
			}
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		var st syscall.Stat_t
		if err := syscall.Lstat(p, &st); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		key := [2]uint64{st.Dev, st.Ino}
		if seen[key] {
			return nil
		}
		seen[key] = true
		f := Usage{Apparent: st.Size, Allocated: st.Blocks * 512, Files: 1}
		var ext []physRange
		if f.Allocated > 0 {
			var err error
			if ext, err = sharedExtents(p, st.Ino); errors.Is(err, fs.ErrNotExist) {
				return nil
			} else if err != nil {
				return err
			}
			for _, e := range ext {
				f.Shared += int64(e.end - e.start)
			}
			f.Shared = min(f.Shared, f.Allocated)
		}
		u.Apparent += f.Apparent
		u.Allocated += f.Allocated
		u.Shared += f.Shared
		u.Files++
		shared[uint64(st.Dev)] = append(shared[uint64(st.Dev)], ext...)
		if m.seen[key] {
			return nil
		}
		m.seen[key] = true
		m.total.Apparent += f.Apparent
		m.total.Allocated += f.Allocated
		m.total.Shared += f.Shared
		m.total.Files++
		m.shared[uint64(st.Dev)] = append(m.shared[uint64(st.Dev)], ext...)
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return Usage{}, fmt.Errorf("measure %s: %w", path, err)
	}
	u.OnDisk = onDisk(u, shared)
	return u, nil
}

// Total is what every path measured takes together.
func (m *Meter) Total() Usage {
	t := m.total
	t.OnDisk = onDisk(t, m.shared)
	return t
}

// onDisk is u's Allocated with the shared ranges counted once: the
// exclusive bytes plus the bytes the shared ranges cover together.
func onDisk(u Usage, shared map[uint64][]physRange) int64 {
	n := u.Exclusive()
	for _, rs := range shared {
		n += mergedLength(rs)
	}
	return min(n, u.Allocated)
}

// Free is the room on the filesystem holding path: Available is what an
// unprivileged writer may still use (statfs f_bavail), Total the
// filesystem's size. path need not exist: its nearest existing ancestor
// is asked.
type Free struct {
	Available int64
	Total     int64
}

// FreeSpace reports the room on the filesystem holding path.
func FreeSpace(path string) (Free, error) {
	p := filepath.Clean(path)
	for {
		var st syscall.Statfs_t
		err := syscall.Statfs(p, &st)
		if err == nil {
			bs := int64(st.Bsize)
			return Free{Available: int64(st.Bavail) * bs, Total: int64(st.Blocks) * bs}, nil
		}
		if !errors.Is(err, syscall.ENOENT) || p == filepath.Dir(p) {
			return Free{}, fmt.Errorf("read the free space of the filesystem holding %s: %w", path, err)
		}
		p = filepath.Dir(p)
	}
}

// CheckRoom fails with a FailedPrecondition error wrapping a
// NoSpaceError when the filesystem holding path has less than need bytes available.
// what names the work ("copy the root disk of VM x"), so the error reads
// "copy the root disk of VM x needs 1.2 GiB on /var/lib/banger but only
// 300 MiB is free: ...".
func CheckRoom(path string, need int64, what string) error {
	f, err := FreeSpace(path)
	if err != nil {
		return err
	}
	if f.Available >= need {
		return nil
	}
	return errdefs.Wrap(errdefs.FailedPrecondition, &NoSpaceError{What: what, Path: path, Need: need, Free: f.Available})
}

// NoSpaceError says that work would not fit on a filesystem.
type NoSpaceError struct {
	What string
	Path string
	Need int64
	Free int64
}

func (e *NoSpaceError) Error() string {
	return fmt.Sprintf("%s needs %s on the filesystem holding %s but only %s is free: free some space (\"banger system df\" shows what banger uses; \"banger vm prune\" and \"banger image prune\" remove what no VM needs) and try again",
		e.What, humanBytes(e.Need), e.Path, humanBytes(e.Free))
}

// Is makes a NoSpaceError match ENOSPC, so callers can treat a refusal
// before the work and a write that ran out of room alike.
func (e *NoSpaceError) Is(target error) bool { return target == syscall.ENOSPC }

// humanBytes formats n in binary units to a tenth ("1.5 GiB"), as the
// CLI shows sizes.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// nearlyFull is how little room left counts as a full filesystem when a
// tool that writes fails.
const nearlyFull = 1 << 20

// OutOfRoom returns err marked to match ENOSPC when the filesystem holding
// dir has less than 1 MiB available: how to tell that a tool (mkfs.ext4,
// debugfs), which reports a failure only by its exit status and its
// message, ran out of room. Call it before the failed work's files are
// removed. Other errors are returned as they are.
func OutOfRoom(err error, dir string) error {
	if err == nil || IsNoSpace(err) {
		return err
	}
	if f, ferr := FreeSpace(dir); ferr == nil && f.Available < nearlyFull {
		return fmt.Errorf("%w (%w: %s left on the filesystem holding %s)", err, syscall.ENOSPC, humanBytes(f.Available), dir)
	}
	return err
}

// RoomError returns err as it is unless it is the filesystem holding dir
// running out of room (ENOSPC, EDQUOT, or a tool failing with less than
// 1 MiB left there: see OutOfRoom); then it is a FailedPrecondition that
// says what to do. Call it before the failed work's files are removed.
func RoomError(err error, dir string) error {
	err = OutOfRoom(err, dir)
	if !IsNoSpace(err) {
		return err
	}
	var kinded *errdefs.Error
	if errors.As(err, &kinded) {
		return err
	}
	return errdefs.Wrap(errdefs.FailedPrecondition, fmt.Errorf("%w: the filesystem holding %s is full: free some space (\"banger system df\" shows what banger uses) and try again", err, dir))
}

// IsNoSpace reports whether err is a filesystem running out of room.
func IsNoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}
