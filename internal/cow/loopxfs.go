package cow

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"banger/internal/disk"
	"banger/internal/errdefs"
)

// Names inside the state directory and the XFS filesystem.
const (
	xfsFile  = "cow.xfs" // the backing file
	xfsMount = "cow"     // its mount point
	basesDir = "bases"   // one copy of each image cloned so far
	vmsDir   = "vms"     // the VMs' directories
)

// loopXFS keeps an XFS filesystem (reflink=1) in a file under the state
// directory, mounted over a loop device. An image outside it is copied in
// once (to bases/) and every VM disk is a reflink clone of that copy.
type loopXFS struct {
	file, mnt string
	mounter   Mounter

	mu    sync.Mutex
	bases map[string]*sync.Mutex // per base file: one copy at a time
}

func (l *loopXFS) Name() string { return NameLoopXFS }
func (l *loopXFS) Dir() string  { return filepath.Join(l.mnt, vmsDir) }

func (l *loopXFS) Clone(ctx context.Context, src, dst string) error {
	// A source on the XFS filesystem (a VM's disk) clones directly.
	err := disk.CloneFile(ctx, src, dst)
	if !errors.Is(err, disk.ErrNoReflink) {
		return err
	}
	base, err := l.base(ctx, src)
	if err != nil {
		return err
	}
	return disk.CloneFile(ctx, base, dst)
}

func (l *loopXFS) Remove(path string) error         { return removeFile(path) }
func (l *loopXFS) Usage(path string) (Usage, error) { return fileUsage(path) }

// base returns the copy of src inside the filesystem, making it the first
// time. The copy is named for src's identity (device, inode, size, mtime),
// so a file replaced at the same path gets a new copy.
func (l *loopXFS) base(ctx context.Context, src string) (string, error) {
	fi, err := os.Stat(src)
	if err != nil {
		return "", fmt.Errorf("image %s: %w", src, err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || !fi.Mode().IsRegular() {
		return "", errdefs.InvalidArgumentf("%s is not a regular file: only image files can be cloned", src)
	}
	base := filepath.Join(l.mnt, basesDir, baseKey(src, st, fi.Size(), fi.ModTime().UnixNano())+".img")

	l.mu.Lock()
	if l.bases == nil {
		l.bases = map[string]*sync.Mutex{}
	}
	m := l.bases[base]
	if m == nil {
		m = &sync.Mutex{}
		l.bases[base] = m
	}
	l.mu.Unlock()
	m.Lock()
	defer m.Unlock()
	if _, err := os.Stat(base); err == nil {
		return base, nil
	}
	// The source's path goes next to the copy first, so that a copy is
	// never left without a way to tell whether it is still needed.
	if err := os.WriteFile(strings.TrimSuffix(base, ".img")+".src", []byte(src), 0o600); err != nil {
		return "", fmt.Errorf("record the source of %s: %w", base, err)
	}
	if err := disk.SparseCopy(ctx, src, base); err != nil {
		return "", fmt.Errorf("copy image %s into %s: %w", src, l.mnt, err)
	}
	return base, nil
}

// baseKey names the copy of src: its path and identity (device, inode,
// size, mtime), so a file replaced at the same path gets a new copy.
func baseKey(src string, st *syscall.Stat_t, size, mtime int64) string {
	sum := sha256.Sum256(fmt.Appendf(nil, "%s\x00%d\x00%d\x00%d\x00%d", src, st.Dev, st.Ino, size, mtime))
	return hex.EncodeToString(sum[:12])
}

// pruneBases removes the copies of images that are gone or were replaced
// (their recorded source no longer has the identity the copy was made
// from), and copies left without a record by a crash. VM disks cloned
// from a removed copy keep their data: clones share blocks, not files.
func (l *loopXFS) pruneBases() error {
	dir := filepath.Join(l.mnt, basesDir)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("list %s: %w", dir, err)
	}
	var errs []error
	for _, e := range entries {
		name := e.Name()
		key, ok := strings.CutSuffix(name, ".img")
		if !ok {
			key, ok = strings.CutSuffix(name, ".src")
		}
		if !ok {
			// A temporary file of an interrupted copy.
			errs = append(errs, removeFile(filepath.Join(dir, name)))
			continue
		}
		if l.baseCurrent(dir, key) {
			continue
		}
		errs = append(errs, removeFile(filepath.Join(dir, key+".img")), removeFile(filepath.Join(dir, key+".src")))
	}
	return errors.Join(errs...)
}

// baseCurrent reports whether the copy key still matches its source.
func (l *loopXFS) baseCurrent(dir, key string) bool {
	src, err := os.ReadFile(filepath.Join(dir, key+".src"))
	if err != nil {
		return false
	}
	fi, err := os.Stat(string(src))
	if err != nil {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return false
	}
	if _, err := os.Stat(filepath.Join(dir, key+".img")); err != nil {
		return false
	}
	return baseKey(string(src), st, fi.Size(), fi.ModTime().UnixNano()) == key
}

// openLoopXFS makes (when create is set and it is missing) and mounts the
// XFS file of stateDir, or finds it mounted already, and returns the
// strategy. size is the new file's size (sparse); uid owns the state
// directory and must own the file.
func openLoopXFS(ctx context.Context, stateDir string, uid int, size int64, create bool, m Mounter) (*loopXFS, error) {
	l := &loopXFS{file: filepath.Join(stateDir, xfsFile), mnt: filepath.Join(stateDir, xfsMount), mounter: m}
	if err := checkBacking(l.file, uid); err != nil {
		if !errors.Is(err, os.ErrNotExist) || !create {
			return nil, err
		}
		var st syscall.Stat_t
		if err := syscall.Stat(stateDir, &st); err != nil {
			return nil, fmt.Errorf("stat %s: %w", stateDir, err)
		}
		if err := makeXFS(ctx, l.file, size, uid, int(st.Gid)); err != nil {
			return nil, err
		}
		if err := os.Lchown(l.file, uid, -1); err != nil {
			return nil, fmt.Errorf("chown %s: %w", l.file, err)
		}
	}
	if err := os.Mkdir(l.mnt, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("make mount point %s: %w", l.mnt, err)
	}
	if fi, err := os.Lstat(l.mnt); err != nil || !fi.IsDir() {
		return nil, errdefs.FailedPreconditionf("mount point %s is not a directory: remove it and restart bangerd", l.mnt)
	}
	mt, mounted, err := findMount(l.mnt)
	if err != nil {
		return nil, err
	}
	if mounted {
		if err := checkMount(mt, l.file, l.mnt); err != nil {
			return nil, err
		}
	} else {
		// Mounted in another mount namespace (a daemon started by a
		// service manager with a private one) is mounted all the same:
		// mounting it twice would corrupt it.
		if loops := loopsBacking(l.file); len(loops) > 0 {
			return nil, errdefs.FailedPreconditionf("%s is attached to %s but not mounted on %s here: it is mounted in another mount namespace (another bangerd, or VMs it started, still use it); stop them, or detach it with losetup -d", l.file, strings.Join(loops, ", "), l.mnt)
		}
		if err := m.MountXFS(l.file, l.mnt); err != nil {
			return nil, err
		}
		// A root helper in another mount namespace mounts where this
		// daemon cannot see.
		mt, mounted, err := findMount(l.mnt)
		if err != nil {
			return nil, err
		}
		if !mounted {
			return nil, errdefs.FailedPreconditionf("%s was mounted on %s but this bangerd does not see the mount: run bangerd and the root helper in the same mount namespace (no PrivateMounts, ProtectSystem or ProtectHome in their units)", l.file, l.mnt)
		}
		if err := checkMount(mt, l.file, l.mnt); err != nil {
			return nil, err
		}
	}
	for _, d := range []string{l.mnt, filepath.Join(l.mnt, basesDir), filepath.Join(l.mnt, vmsDir)} {
		if err := os.Mkdir(d, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("make %s: %w", d, err)
		}
		if err := os.Lchown(d, uid, -1); err != nil {
			return nil, fmt.Errorf("chown %s: %w", d, err)
		}
		if err := os.Chmod(d, 0o700); err != nil {
			return nil, fmt.Errorf("chmod %s: %w", d, err)
		}
	}
	if err := l.pruneBases(); err != nil {
		return nil, err
	}
	return l, nil
}

// checkBacking refuses a backing file that is not a regular file owned by
// uid and writable by it alone. A missing file wraps os.ErrNotExist.
func checkBacking(file string, uid int) error {
	fi, err := os.Lstat(file)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%s: %w", file, err)
		}
		return fmt.Errorf("check %s: %w", file, err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	switch {
	case !fi.Mode().IsRegular():
		return errdefs.FailedPreconditionf("%s is not a regular file (%v): remove it and restart bangerd", file, fi.Mode().Type())
	case !ok || int(st.Uid) != uid:
		return errdefs.FailedPreconditionf("%s is not owned by uid %d: remove it and restart bangerd", file, uid)
	case fi.Mode().Perm()&0o022 != 0:
		return errdefs.FailedPreconditionf("%s is writable by others (mode %v): chmod 600 it", file, fi.Mode().Perm())
	}
	return nil
}

// makeXFS makes a sparse file of size bytes holding an empty XFS
// filesystem with reflink enabled, under a temporary name renamed into
// place when complete. Its root directory belongs to uid and gid (mode
// 0700) when uid is not negative, so that an unprivileged daemon can use
// it once the root helper has mounted it.
func makeXFS(ctx context.Context, file string, size int64, uid, gid int) error {
	bin, err := exec.LookPath("mkfs.xfs")
	if err != nil {
		return errdefs.FailedPreconditionf("mkfs.xfs is not installed (%w): install xfsprogs, or set vm.disk_strategy = \"sparse\"", err)
	}
	tmp := file + ".tmp"
	_ = os.Remove(tmp)
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("create %s: %w", tmp, err)
	}
	terr := f.Truncate(size)
	cerr := f.Close()
	if err := errors.Join(terr, cerr); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("size %s: %w", tmp, err)
	}
	args := []string{"-q", "-m", "reflink=1", "-L", "banger-cow"}
	if uid >= 0 {
		// A prototype file sets the root directory's owner and mode.
		proto := file + ".proto"
		if err := os.WriteFile(proto, fmt.Appendf(nil, "/dev/null\n0 0\nd--700 %d %d\n$\n", uid, gid), 0o600); err != nil {
			os.Remove(tmp)
			return fmt.Errorf("write %s: %w", proto, err)
		}
		defer os.Remove(proto)
		args = append(args, "-p", proto)
	}
	out, err := exec.CommandContext(ctx, bin, append(args, tmp)...).CombinedOutput()
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("mkfs.xfs %s: %w: %s", tmp, err, strings.TrimSpace(string(out)))
	}
	if err := os.Rename(tmp, file); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("rename %s: %w", tmp, err)
	}
	return nil
}

// Unmount unmounts the loop-XFS filesystem of s (its loop device goes with
// it); other strategies have nothing to unmount. The daemon leaves the
// filesystem mounted across restarts (running VMs use it); tests and
// uninstall call this.
func Unmount(s Strategy) error {
	l, ok := s.(*loopXFS)
	if !ok {
		return nil
	}
	return l.mounter.UnmountXFS(l.file, l.mnt)
}
