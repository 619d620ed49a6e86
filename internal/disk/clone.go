package disk

import (
	"context"
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// ErrNoReflink means the filesystem cannot clone between the two files
// (no reflink support, or they are on different filesystems).
var ErrNoReflink = errors.New("reflink clones are not supported here")

// CloneFile makes dst a reflink clone of the regular file src (FICLONE):
// the two share their data blocks until either is written, so the clone
// takes no time and no space whatever the size. Like SparseCopy it writes
// dst+".tmp-<random>" (mode 0600) and renames it into place, so dst is
// never seen half made. It fails with an error wrapping ErrNoReflink when
// the filesystem cannot clone src into dst's directory.
func CloneFile(ctx context.Context, src, dst string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	in, _, err := openSource(src)
	if err != nil {
		return err
	}
	defer in.Close()
	return writeAtomic(dst, false, func(out *os.File) error {
		if err := unix.IoctlFileClone(int(out.Fd()), int(in.Fd())); err != nil {
			if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EXDEV) ||
				errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOTTY) {
				return fmt.Errorf("clone %s to %s: %w (%w)", src, dst, ErrNoReflink, err)
			}
			return fmt.Errorf("clone %s to %s: %w", src, dst, err)
		}
		return nil
	})
}
