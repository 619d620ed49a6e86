package identdisk

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Find returns the block device under devDir (/dev) whose first bytes are
// an identity disk's, looking at the virtio disks sysBlock (/sys/block)
// lists; "" when there is none (an image booted without one).
func Find(sysBlock, devDir string) (string, error) {
	entries, err := os.ReadDir(sysBlock)
	if err != nil {
		return "", fmt.Errorf("list block devices: %w", err)
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "vd") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	for _, n := range names {
		dev := filepath.Join(devDir, n)
		f, err := os.Open(dev)
		if err != nil {
			continue
		}
		b := make([]byte, HeaderSize)
		_, err = io.ReadFull(f, b)
		f.Close()
		if err == nil && IsIdentityDisk(b) {
			return dev, nil
		}
	}
	return "", nil
}

// Read decodes the identity disk at dev, reading no more than its header
// says (and never more than the format's limits).
func Read(dev string) ([]File, error) {
	f, err := os.Open(dev)
	if err != nil {
		return nil, fmt.Errorf("open identity disk: %w", err)
	}
	defer f.Close()
	b := make([]byte, HeaderSize)
	if _, err := io.ReadFull(f, b); err != nil {
		return nil, fmt.Errorf("read identity disk %s: %w", dev, err)
	}
	h, err := parseHeader(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dev, err)
	}
	b = append(b, make([]byte, h.length)...)
	if _, err := io.ReadFull(f, b[HeaderSize:]); err != nil {
		return nil, fmt.Errorf("read identity disk %s: %w", dev, err)
	}
	files, err := Decode(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dev, err)
	}
	return files, nil
}

// Install writes files under root ("/" in a guest): each replaces its
// path atomically (a temporary file renamed over it, so a link planted at
// the path is replaced, not followed), with its mode, owned by the caller.
// Missing parent directories are made 0755.
func Install(root string, files []File) error {
	var errs []error
	for _, f := range files {
		if err := checkFile(f); err != nil {
			errs = append(errs, err)
			continue
		}
		if err := installOne(filepath.Join(root, f.Path), f); err != nil {
			errs = append(errs, fmt.Errorf("install %s: %w", f.Path, err))
		}
	}
	return errors.Join(errs...)
}

func installOne(dst string, f File) error {
	dir := filepath.Dir(dst)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".banger-identity-*")
	if err != nil {
		return err
	}
	name := tmp.Name()
	defer os.Remove(name)
	if err := tmp.Chmod(os.FileMode(f.Mode)); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(f.Data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(name, dst)
}
