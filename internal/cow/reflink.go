package cow

import (
	"context"
	"errors"
	"fmt"
	"os"

	"banger/internal/disk"
)

// reflink clones with FICLONE on the state directory's own filesystem
// (XFS, btrfs). A source on another filesystem (an image registered from
// elsewhere) is copied sparsely instead.
type reflink struct{}

func (reflink) Name() string { return NameReflink }
func (reflink) Dir() string  { return "" }

func (reflink) Clone(ctx context.Context, src, dst string) error {
	err := disk.CloneFile(ctx, src, dst)
	if errors.Is(err, disk.ErrNoReflink) {
		return disk.SparseCopy(ctx, src, dst)
	}
	return err
}

func (reflink) Remove(path string) error         { return removeFile(path) }
func (reflink) Usage(path string) (Usage, error) { return fileUsage(path) }

// sparse copies the image's data extents, keeping holes: the last resort,
// costing the image's data in time and space per clone.
type sparse struct{}

func (sparse) Name() string { return NameSparse }
func (sparse) Dir() string  { return "" }

func (sparse) Clone(ctx context.Context, src, dst string) error {
	return disk.SparseCopy(ctx, src, dst)
}

func (sparse) Remove(path string) error         { return removeFile(path) }
func (sparse) Usage(path string) (Usage, error) { return fileUsage(path) }

// probeReflink reports whether dir's filesystem clones files: it clones a
// small temporary file there and removes both.
func probeReflink(ctx context.Context, dir string) error {
	f, err := os.CreateTemp(dir, ".cow-probe-*")
	if err != nil {
		return fmt.Errorf("probe reflink in %s: %w", dir, err)
	}
	src := f.Name()
	defer os.Remove(src)
	_, werr := f.Write(make([]byte, 4096))
	cerr := f.Close()
	if err := errors.Join(werr, cerr); err != nil {
		return fmt.Errorf("probe reflink in %s: %w", dir, err)
	}
	dst := src + ".clone"
	defer os.Remove(dst)
	return disk.CloneFile(ctx, src, dst)
}
