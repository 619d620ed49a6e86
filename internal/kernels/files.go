package kernels

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"banger/internal/disk"
	"banger/internal/errdefs"
	"banger/internal/store"
	"banger/internal/userfile"
)

// sources are the host files of a new kernel: a vmlinux, a bzImage or
// both (a bzImage alone is unpacked), and an optional initrd; and what the
// record says about them: where they came from and how the kernel finds
// virtio-mmio devices ("" is the command line).
type sources struct {
	vmlinux, bzImage, initrd string
	origin, discovery        string
	hz                       int // CONFIG_HZ, 0 if not known
}

// record copies the files into a new kernel directory and records the
// kernel. On any failure the directory is removed and nothing is recorded.
func (s *Service) record(ctx context.Context, name string, source Source, version string, src sources) (_ Kernel, err error) {
	if err := os.MkdirAll(s.cfg.Dir, 0o755); err != nil {
		return Kernel{}, fmt.Errorf("create the kernel store: %w", err)
	}
	id := s.cfg.NewID()
	dir := s.kernelDir(id)
	if err := os.Mkdir(dir, 0o755); err != nil {
		return Kernel{}, fmt.Errorf("create kernel directory: %w", err)
	}
	defer func() {
		if err != nil {
			_ = os.RemoveAll(dir)
		}
	}()
	k := store.Kernel{ID: id, Name: name, Source: string(source), Version: version, Vmlinux: filepath.Join(dir, "vmlinux"),
		Origin: src.origin, Discovery: src.discovery, HZ: src.hz}
	if k.Discovery == "" {
		k.Discovery = DiscoveryCmdline
	}
	if src.bzImage != "" {
		k.BzImage = filepath.Join(dir, "bzImage")
		if err := copyFile(ctx, src.bzImage, k.BzImage); err != nil {
			return Kernel{}, err
		}
	}
	if src.vmlinux != "" {
		if err := copyFile(ctx, src.vmlinux, k.Vmlinux); err != nil {
			return Kernel{}, err
		}
	} else if err := s.cfg.Host.Unpack(k.BzImage, k.Vmlinux); err != nil {
		return Kernel{}, err
	}
	if _, err := s.cfg.Host.DetectKernel(k.Vmlinux); err != nil {
		return Kernel{}, err
	}
	if src.initrd != "" {
		k.Initrd = filepath.Join(dir, "initrd")
		if err := copyFile(ctx, src.initrd, k.Initrd); err != nil {
			return Kernel{}, err
		}
	}
	sum, size, banner, err := inspect(ctx, k.Vmlinux)
	if err != nil {
		return Kernel{}, err
	}
	k.SHA256, k.Size = sum, size
	if k.Version == "" {
		k.Version = banner
	}
	k.CreatedAt = s.cfg.Now()
	if err := s.cfg.Store.CreateKernel(ctx, k); err != nil {
		return Kernel{}, err
	}
	return toKernel(k), nil
}

// nameFree fails with AlreadyExists if a kernel is named name, before any
// work is done.
func (s *Service) nameFree(ctx context.Context, name string) error {
	k, err := s.cfg.Store.GetKernel(ctx, name)
	switch {
	case errdefs.KindOf(err) == errdefs.NotFound:
		return nil
	case err != nil:
		return err
	case k.Name == name:
		return errdefs.AlreadyExistsf("a kernel named %q already exists: pick another name with --name, or remove it with \"banger kernel rm %s\"", name, name)
	}
	return nil // ref matched another kernel's id, not a name
}

// copyFile copies a regular file a user named to dst (which must not
// exist), syncing it. src is opened with userfile; cancelling ctx stops the
// copy within a chunk.
func copyFile(ctx context.Context, src, dst string) error {
	in, err := userfile.Open(src, disk.MaxKernelSize)
	if err != nil {
		return fmt.Errorf("copy %w", err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	_, err = userfile.Copy(ctx, out, in)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("copy %s to %s: %w", src, dst, err)
	}
	return nil
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// bannerPrefix starts the kernel's linux_banner: "Linux version 6.1.0 (...".
var bannerPrefix = []byte("Linux version ")

// maxRelease bounds the release read after the banner prefix.
const maxRelease = 64

// inspect returns a file's sha256, size and the release in its Linux
// banner ("" if none), in one pass.
func inspect(ctx context.Context, path string) (sum string, size int64, release string, err error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, "", fmt.Errorf("read %s: %w", path, err)
	}
	defer f.Close()
	h := sha256.New()
	buf := make([]byte, 1<<20)
	keep := len(bannerPrefix) + maxRelease
	var window []byte
	for {
		n, rerr := ctxReader{ctx, f}.Read(buf)
		if n > 0 {
			h.Write(buf[:n])
			size += int64(n)
			if release == "" {
				window = append(window, buf[:n]...)
				release = findRelease(window)
				if len(window) > keep {
					window = append(window[:0], window[len(window)-keep:]...)
				}
			}
		}
		if errors.Is(rerr, io.EOF) {
			break
		}
		if rerr != nil {
			return "", 0, "", fmt.Errorf("read %s: %w", path, rerr)
		}
	}
	return hex.EncodeToString(h.Sum(nil)), size, release, nil
}

// findRelease returns the release after the first complete banner in b.
func findRelease(b []byte) string {
	for {
		i := bytes.Index(b, bannerPrefix)
		if i < 0 {
			return ""
		}
		rest := b[i+len(bannerPrefix):]
		if len(rest) > 0 && rest[0] >= '0' && rest[0] <= '9' {
			end := bytes.IndexAny(rest, " \x00\n")
			if end > 0 && end <= maxRelease {
				return string(rest[:end])
			}
			if end < 0 && len(rest) <= maxRelease {
				return "" // cut off at the window's end: wait for more
			}
		}
		b = rest
	}
}
