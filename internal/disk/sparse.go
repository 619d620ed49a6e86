package disk

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"

	"banger/internal/userfile"
)

// copyChunk bounds one copy_file_range or read/write step, so that
// cancellation is noticed within a large extent too.
const copyChunk = 64 << 20

// rwBuffer is the buffer size of the read/write fallback; all-zero buffers
// are skipped, leaving holes.
const rwBuffer = 1 << 20

// copier copies one file's data extents into another. Its flags disable
// kernel features so tests can exercise the fallbacks.
type copier struct {
	noCopyRange bool // use read/write instead of copy_file_range
	noSeekData  bool // treat the file as one data extent, as if SEEK_DATA were unsupported
}

// SparseCopy copies the regular file src to dst, preserving holes. It
// writes dst+".tmp-<random>" (mode 0600), syncs it and renames it over
// dst, so dst is never seen half-written and is left untouched when the
// copy fails. Cancelling ctx stops the copy between extents.
func SparseCopy(ctx context.Context, src, dst string) error {
	return copier{}.copyFile(ctx, src, dst)
}

func (c copier) copyFile(ctx context.Context, src, dst string) error {
	in, size, err := openSource(src)
	if err != nil {
		return err
	}
	defer in.Close()
	return writeAtomic(dst, false, func(out *os.File) error {
		if err := c.copy(ctx, in, out, size); err != nil {
			return fmt.Errorf("copy %s to %s: %w", src, dst, err)
		}
		return nil
	})
}

// openSource opens src for copying and returns its size. src is a file a
// user named (an image's root filesystem): it is opened with userfile, so a
// FIFO or device swapped in for it fails at once instead of blocking.
func openSource(src string) (*os.File, int64, error) {
	in, err := userfile.Open(src, MaxImageSize)
	if err != nil {
		if errors.Is(err, userfile.ErrNotRegular) {
			return nil, 0, fmt.Errorf("%w: only image files can be copied", err)
		}
		return nil, 0, err
	}
	st, err := in.Stat()
	if err != nil {
		in.Close()
		return nil, 0, fmt.Errorf("stat %s: %w", src, err)
	}
	return in, st.Size(), nil
}

// copy copies size bytes of in to out, which it first sizes so that holes,
// including a trailing one, stay holes.
func (c copier) copy(ctx context.Context, in, out *os.File, size int64) error {
	if err := out.Truncate(size); err != nil {
		return err
	}
	useRW := c.noCopyRange
	for off := int64(0); off < size; {
		if err := ctx.Err(); err != nil {
			return err
		}
		start, end, ok, err := c.nextExtent(in, off, size)
		if err != nil {
			return err
		}
		if !ok {
			return nil
		}
		for pos := start; pos < end; {
			if err := ctx.Err(); err != nil {
				return err
			}
			n := min(end-pos, copyChunk)
			if !useRW {
				done, err := copyRange(in, out, pos, n)
				pos += done
				if err == nil {
					continue
				}
				if !errors.Is(err, errNoCopyRange) {
					return err
				}
				useRW = true
				n = min(end-pos, copyChunk)
			}
			if err := readWrite(in, out, pos, n); err != nil {
				return err
			}
			pos += n
		}
		off = end
	}
	return nil
}

// nextExtent returns the next data extent [start, end) at or after off.
// ok is false when only holes remain.
func (c copier) nextExtent(f *os.File, off, size int64) (start, end int64, ok bool, err error) {
	if c.noSeekData {
		return off, size, true, nil
	}
	fd := int(f.Fd())
	start, err = unix.Seek(fd, off, unix.SEEK_DATA)
	switch {
	case errors.Is(err, unix.ENXIO):
		return 0, 0, false, nil
	case errors.Is(err, unix.EINVAL), errors.Is(err, unix.EOPNOTSUPP):
		// The filesystem cannot report holes: copy the rest, and the
		// read/write path will skip zeros.
		return off, size, true, nil
	case err != nil:
		return 0, 0, false, fmt.Errorf("seek data at %d: %w", off, err)
	}
	end, err = unix.Seek(fd, start, unix.SEEK_HOLE)
	if err != nil {
		return 0, 0, false, fmt.Errorf("seek hole at %d: %w", start, err)
	}
	return start, min(end, size), start < size, nil
}

// errNoCopyRange means copy_file_range cannot copy between these files and
// the caller should fall back to read/write.
var errNoCopyRange = errors.New("copy_file_range unsupported")

// copyRange copies n bytes at off with copy_file_range and returns how many
// it copied.
func copyRange(in, out *os.File, off, n int64) (int64, error) {
	roff, woff := off, off
	var done int64
	for done < n {
		m, err := unix.CopyFileRange(int(in.Fd()), &roff, int(out.Fd()), &woff, int(n-done), 0)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.ENOSYS), errors.Is(err, unix.EXDEV), errors.Is(err, unix.EOPNOTSUPP),
			errors.Is(err, unix.EINVAL), errors.Is(err, unix.EPERM) && done == 0:
			return done, errNoCopyRange
		case err != nil:
			return done, fmt.Errorf("copy_file_range at %d: %w", off+done, err)
		case m == 0:
			return done, fmt.Errorf("source ended at %d, before its size when the copy began: was it changed during the copy?", off+done)
		}
		done += int64(m)
	}
	return done, nil
}

// readWrite copies n bytes at off through a buffer, skipping blocks of
// zeros so that they stay holes in out (which was truncated to size).
func readWrite(in, out *os.File, off, n int64) error {
	buf := make([]byte, min(n, rwBuffer))
	for n > 0 {
		b := buf[:min(n, int64(len(buf)))]
		if _, err := in.ReadAt(b, off); err != nil {
			if errors.Is(err, io.EOF) {
				return fmt.Errorf("source ended before byte %d: was it changed during the copy?", off+int64(len(b)))
			}
			return err
		}
		if !allZero(b) {
			if _, err := out.WriteAt(b, off); err != nil {
				return err
			}
		}
		off += int64(len(b))
		n -= int64(len(b))
	}
	return nil
}
