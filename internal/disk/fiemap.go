package disk

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"syscall"
	"unsafe"
)

// FIEMAP (linux/fiemap.h): the ioctl that maps a file's logical ranges to
// the filesystem's physical extents, and the extent flags used here.
const (
	fsIocFiemap        = 0xC020660B // _IOWR('f', 11, struct fiemap)
	fiemapExtentLast   = 0x00000001 // the file's last extent
	fiemapExtentShared = 0x00002000 // the extent's blocks are shared with another file (a reflink clone)
	fiemapBatch        = 256        // extents asked for per ioctl
)

// fiemapHeader is struct fiemap without its trailing extent array.
type fiemapHeader struct {
	Start         uint64
	Length        uint64
	Flags         uint32
	MappedExtents uint32
	ExtentCount   uint32
	Reserved      uint32
}

// fiemapExtent is struct fiemap_extent.
type fiemapExtent struct {
	Logical    uint64
	Physical   uint64
	Length     uint64
	Reserved64 [2]uint64
	Flags      uint32
	Reserved   [3]uint32
}

// fiemapRequest is a struct fiemap with room for fiemapBatch extents.
type fiemapRequest struct {
	fiemapHeader
	Extents [fiemapBatch]fiemapExtent
}

// physRange is a physical byte range of a filesystem.
type physRange struct{ start, end uint64 }

// sharedExtents returns the physical ranges of the regular file at path
// (the inode ino) whose blocks the filesystem reports shared with another
// file (reflink clones on XFS or btrfs). A filesystem without FIEMAP, or
// one that never shares blocks (ext4, tmpfs), yields none; so does a file
// the daemon may not open (a rootless build's files owned by another id)
// or one replaced by something else since it was listed.
func sharedExtents(path string, ino uint64) ([]physRange, error) {
	// O_NONBLOCK: a FIFO swapped in for the file must not block the open.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.ELOOP) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		return nil, fmt.Errorf("stat %s: %w", path, err)
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFREG || st.Ino != ino {
		return nil, nil
	}
	var (
		out []physRange
		req fiemapRequest
		pos uint64
	)
	for {
		req.fiemapHeader = fiemapHeader{Start: pos, Length: ^uint64(0) - pos, ExtentCount: fiemapBatch}
		_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), fsIocFiemap, uintptr(unsafe.Pointer(&req)))
		if errno != 0 {
			if errors.Is(errno, syscall.EOPNOTSUPP) || errors.Is(errno, syscall.ENOTTY) || errors.Is(errno, syscall.EINVAL) {
				return nil, nil // no extent map here: nothing is known to be shared
			}
			return nil, fmt.Errorf("map the extents of %s (FIEMAP): %w", path, errno)
		}
		n := int(req.MappedExtents)
		if n == 0 {
			return out, nil
		}
		for _, e := range req.Extents[:n] {
			if e.Flags&fiemapExtentShared != 0 && e.Length > 0 {
				out = append(out, physRange{e.Physical, e.Physical + e.Length})
			}
			if e.Flags&fiemapExtentLast != 0 {
				return out, nil
			}
		}
		last := req.Extents[n-1]
		if next := last.Logical + last.Length; next > pos {
			pos = next
		} else {
			return out, nil
		}
	}
}

// mergedLength is the number of bytes the ranges cover, each byte counted
// once however many ranges hold it. It sorts rs.
func mergedLength(rs []physRange) int64 {
	slices.SortFunc(rs, func(a, b physRange) int { return cmp.Compare(a.start, b.start) })
	var (
		n   uint64
		end uint64
	)
	for i, r := range rs {
		if i == 0 || r.start >= end {
			n += r.end - r.start
			end = r.end
			continue
		}
		if r.end > end {
			n += r.end - end
			end = r.end
		}
	}
	return int64(n)
}
