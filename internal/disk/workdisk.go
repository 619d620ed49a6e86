package disk

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"banger/internal/errdefs"
)

// MinWorkDiskSize is the smallest work disk Create makes: below it
// mkfs.ext4 leaves out the journal.
const MinWorkDiskSize = 16 << 20

// workDiskAlign is the granularity of work disk sizes.
const workDiskAlign = 1 << 20

// templateVersion names the mkfs options below; change it whenever they
// change so that templates made with the old options are not reused.
const templateVersion = "v1"

// staleTemp is how old a leftover temporary template must be before it is
// taken to be litter from a crash and removed.
const staleTemp = time.Hour

// mkfsArgs makes the work filesystem. The journal is kept: the work disk
// holds the user's files across stop/start and must survive a guest that
// is killed. metadata_csum_seed makes a UUID change a superblock-only
// write, which setUUID does on each copy without running tune2fs. On
// a regular file mke2fs discards (punches holes) before writing, which
// lets it mark every inode table zeroed, so the guest kernel has no lazy
// init to do and the sparse file stays small.
var mkfsArgs = []string{
	"-q", "-F", "-L", "work", "-m", "0",
	"-O", "metadata_csum_seed",
	"-E", "lazy_itable_init=1,lazy_journal_init=1,root_owner=0:0",
}

// WorkDisks creates empty ext4 work disks. It keeps one empty template per
// size in its cache directory, made once with mkfs.ext4 and copied
// sparsely for each disk, which then gets a fresh filesystem UUID. It is
// safe for concurrent use: concurrent creates of one size make one
// template and wait for it.
type WorkDisks struct {
	cacheDir string
	run      runner
	flight   flight
	built    atomic.Int64 // templates made, for tests
}

// NewWorkDisks returns a WorkDisks that keeps its templates in cacheDir,
// creating the directory (mode 0700) when it first needs it.
func NewWorkDisks(cacheDir string) *WorkDisks {
	return &WorkDisks{cacheDir: cacheDir, run: runner{find: findTool}}
}

// Create makes dst an empty ext4 filesystem of size bytes labelled "work"
// with its root directory owned by root. size must be a whole number of
// MiB and at least MinWorkDiskSize. dst must not exist; it appears only
// when complete.
func (w *WorkDisks) Create(ctx context.Context, dst string, size int64) error {
	if err := checkWorkDiskSize(size); err != nil {
		return err
	}
	if _, err := os.Lstat(dst); err == nil {
		return errdefs.AlreadyExistsf("work disk %s already exists: delete it first or choose another path", dst)
	}
	tmpl, err := w.template(ctx, size)
	if err != nil {
		return fmt.Errorf("work disk template of %d bytes: %w", size, err)
	}
	in, _, err := openSource(tmpl)
	if err != nil {
		return err
	}
	defer in.Close()
	return writeAtomic(dst, true, func(f *os.File) error {
		if err := (copier{}).copy(ctx, in, f, size); err != nil {
			return fmt.Errorf("copy %s to %s: %w", tmpl, f.Name(), err)
		}
		// A fresh UUID, written straight into the superblocks: the
		// template has metadata_csum_seed, so that is all tune2fs -U
		// would write. A template without it gets tune2fs.
		ok, err := setUUID(f)
		if err != nil || ok {
			return err
		}
		return w.run.run(ctx, "tune2fs", "-U", "random", f.Name())
	})
}

func checkWorkDiskSize(size int64) error {
	switch {
	case size < MinWorkDiskSize:
		return errdefs.InvalidArgumentf("work disk size %d bytes is below the minimum of %d MiB: use a larger size", size, MinWorkDiskSize>>20)
	case size%workDiskAlign != 0:
		return errdefs.InvalidArgumentf("work disk size %d bytes is not a whole number of MiB: round it to a multiple of 1 MiB", size)
	}
	return nil
}

// templatePath is where the template of a size lives.
func (w *WorkDisks) templatePath(size int64) string {
	return filepath.Join(w.cacheDir, fmt.Sprintf("work-%s-%d.ext4", templateVersion, size))
}

// template returns the path of a valid template of size bytes, making it
// first if needed. Only one caller per size makes it; the rest wait.
func (w *WorkDisks) template(ctx context.Context, size int64) (string, error) {
	path := w.templatePath(size)
	err := w.flight.do(ctx, size, func(ctx context.Context) error {
		if templateOK(path, size) {
			return nil
		}
		return w.buildTemplate(ctx, path, size)
	})
	return path, err
}

// templateOK reports whether path is a complete, unmodified-looking
// template of size bytes. Anything else is rebuilt.
func templateOK(path string, size int64) bool {
	st, err := os.Stat(path)
	if err != nil || !st.Mode().IsRegular() || st.Size() != size {
		return false
	}
	sb, err := readSuperblock(path)
	return err == nil && sb.label == "work"
}

// buildTemplate makes the template at path through a temporary file, so a
// crash leaves either no template or a complete one.
func (w *WorkDisks) buildTemplate(ctx context.Context, path string, size int64) error {
	if err := os.MkdirAll(w.cacheDir, 0o700); err != nil {
		return fmt.Errorf("create work disk cache %s: %w", w.cacheDir, err)
	}
	removeStaleTemps(w.cacheDir, time.Now().Add(-staleTemp))
	err := writeAtomic(path, false, func(f *os.File) error {
		if err := f.Truncate(size); err != nil {
			return err
		}
		// Judged before writeAtomic removes the temporary file.
		return OutOfRoom(w.makeFS(ctx, f.Name()), w.cacheDir)
	})
	if err != nil {
		return err
	}
	w.built.Add(1)
	return nil
}

// makeFS formats the sparse file at path as an empty work filesystem.
func (w *WorkDisks) makeFS(ctx context.Context, path string) error {
	if err := w.run.run(ctx, "mkfs.ext4", append(append([]string{}, mkfsArgs...), path)...); err != nil {
		return err
	}
	return w.dropNewFeatures(ctx, path)
}

// dropNewFeatures removes features a newer mke2fs may enable by default
// that guest kernels banger supports cannot mount read-write: orphan_file
// (default since e2fsprogs 1.47.1) needs Linux 5.15.
func (w *WorkDisks) dropNewFeatures(ctx context.Context, path string) error {
	sb, err := readSuperblock(path)
	if err != nil {
		return fmt.Errorf("mkfs.ext4 made an unusable filesystem: %w", err)
	}
	if sb.compat&compatOrphanFile == 0 {
		return nil
	}
	return w.run.run(ctx, "tune2fs", "-O", "^orphan_file", path)
}

// removeStaleTemps deletes temporary templates older than cutoff: litter
// from a process that crashed while making one.
func removeStaleTemps(dir string, cutoff time.Time) {
	matches, err := filepath.Glob(filepath.Join(dir, "work-*.ext4.tmp-*"))
	if err != nil {
		return
	}
	for _, m := range matches {
		if st, err := os.Lstat(m); err == nil && st.Mode().IsRegular() && st.ModTime().Before(cutoff) {
			_ = os.Remove(m)
		}
	}
}
