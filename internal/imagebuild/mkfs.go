package imagebuild

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

const (
	blockSize = 4096
	headroom  = 256 << 20 // free space the image keeps for the guest
	mib       = 1 << 20
)

// treeUsage is how many bytes the files under dir occupy on a filesystem
// of 4 KiB blocks: every directory and every regular file (once per inode,
// however many hard links it has) rounded up to whole blocks, and symlinks
// too long to live in their inode. It does not cross into other mounts.
func treeUsage(dir string) (int64, error) {
	top, err := os.Lstat(dir)
	if err != nil {
		return 0, err
	}
	dev := top.Sys().(*syscall.Stat_t).Dev
	seen := map[uint64]bool{}
	var total int64
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil && d != nil && d.IsDir() && errors.Is(err, fs.ErrPermission) {
			// An unshare build's tree has directories of the image's
			// other users that the builder cannot read from outside its
			// namespace (apt's partial/); they are counted (on the first
			// visit) but not their contents, which the headroom covers.
			return filepath.SkipDir
		}
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		st := info.Sys().(*syscall.Stat_t)
		if st.Dev != dev {
			return fmt.Errorf("%s is another filesystem mounted in the tree: unmount it", p)
		}
		switch {
		case d.IsDir():
			total += roundUp(max(info.Size(), blockSize), blockSize)
		case info.Mode().IsRegular():
			if st.Nlink > 1 {
				if seen[st.Ino] {
					return nil
				}
				seen[st.Ino] = true
			}
			total += roundUp(info.Size(), blockSize)
		case info.Mode()&fs.ModeSymlink != 0 && info.Size() >= 60:
			total += blockSize
		}
		return nil
	})
	return total, err
}

// imageSize is the size of the ext4 file for a tree using used bytes:
// 20% more for metadata and slack, plus the headroom, in whole MiB.
func imageSize(used int64) int64 {
	return roundUp(used+used/5+headroom, mib)
}

func roundUp(n, to int64) int64 { return (n + to - 1) / to * to }

// mkfs packs the tree at dir into a new ext4 file at image without
// mounting anything: labelled "rootfs", root directory owned by root.
// r runs mkfs.ext4 inside the build's user namespace in unshare mode, so
// it records the owners the files have there.
func mkfs(ctx context.Context, r runner, t tools, dir, image string, size int64, line func(string)) error {
	f, err := os.OpenFile(image, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("create %s: %w", image, err)
	}
	err = f.Truncate(size)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("size %s: %w", image, err)
	}
	if err := r.run(ctx, line, t.mkfs, "-q", "-F", "-L", "rootfs", "-d", dir, "-E", "root_owner=0:0", image); err != nil {
		return err
	}
	return dropOrphanFile(ctx, t, image, line)
}

// The ext4 superblock is at byte 1024; its compat features at 0x5C.
const (
	superblockOffset = 1024
	offFeatureCompat = 0x5C
	compatOrphanFile = 0x1000
)

// dropOrphanFile removes the orphan_file feature that mke2fs 1.47.1 and
// later enable by default: guest kernels before 5.15 cannot mount it
// read-write.
func dropOrphanFile(ctx context.Context, t tools, image string, line func(string)) error {
	f, err := os.Open(image)
	if err != nil {
		return err
	}
	b := make([]byte, 4)
	_, err = f.ReadAt(b, superblockOffset+offFeatureCompat)
	f.Close()
	if err != nil {
		return fmt.Errorf("read the superblock of %s: %w", image, err)
	}
	if binary.LittleEndian.Uint32(b)&compatOrphanFile == 0 {
		return nil
	}
	return runTool(ctx, line, t.tune2fs, "-O", "^orphan_file", image)
}
