package kernelbuild

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// The files of an output directory.
const (
	vmlinuxName = "vmlinux"
	bzImageName = "bzImage"
	releaseName = "release"
)

// cachedResult returns the output in dir if an earlier build completed it.
func cachedResult(dir string) (Result, bool) {
	if _, err := os.Stat(filepath.Join(dir, completeMarker)); err != nil {
		return Result{}, false
	}
	release, err := os.ReadFile(filepath.Join(dir, releaseName))
	if err != nil {
		return Result{}, false
	}
	return Result{
		Vmlinux: filepath.Join(dir, vmlinuxName),
		BzImage: filepath.Join(dir, bzImageName),
		Version: strings.TrimSpace(string(release)),
		Cached:  true,
	}, true
}

// install copies the build products of tree into out through a temporary
// directory renamed into place, so out is either absent or complete.
func install(ctx context.Context, tree, out string, progress func(Progress)) (Result, error) {
	progress(Progress{Step: StepInstall, Detail: "make -s kernelrelease"})
	release, err := run(ctx, tree, nil, "make", "-s", "kernelrelease")
	if err != nil {
		return Result{}, fmt.Errorf("read the kernel release: %w", err)
	}
	release = strings.TrimSpace(release)
	if i := strings.LastIndexByte(release, '\n'); i >= 0 {
		release = release[i+1:]
	}
	if release == "" {
		return Result{}, fmt.Errorf("make -s kernelrelease in %s printed nothing", tree)
	}
	if err := os.RemoveAll(out); err != nil {
		return Result{}, fmt.Errorf("remove incomplete output %s: %w", out, err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(out), filepath.Base(out)+".tmp-*")
	if err != nil {
		return Result{}, fmt.Errorf("create kernel output directory: %w", err)
	}
	err = os.Chmod(tmp, 0o755)
	if err == nil {
		err = fillOutput(tree, tmp, release)
	}
	if err == nil {
		err = ctx.Err()
	}
	if err == nil {
		err = os.Rename(tmp, out)
	}
	if err != nil {
		_ = os.RemoveAll(tmp)
		return Result{}, fmt.Errorf("install the kernel into %s: %w", out, err)
	}
	res, _ := cachedResult(out)
	res.Cached = false
	progress(Progress{Step: StepInstall, Detail: fmt.Sprintf("%s in %s", release, out), Fraction: 1})
	return res, nil
}

func fillOutput(tree, dir, release string) error {
	copies := []struct{ from, to string }{
		{filepath.Join(tree, "vmlinux"), vmlinuxName},
		{filepath.Join(tree, "arch", "x86", "boot", "bzImage"), bzImageName},
	}
	for _, c := range copies {
		if err := copyFile(c.from, filepath.Join(dir, c.to), 0o644); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(dir, releaseName), []byte(release+"\n"), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, completeMarker), nil, 0o644)
}

// copyFile copies a regular file, syncing the copy.
func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, mode)
	if err != nil {
		return fmt.Errorf("copy to %s: %w", dst, err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy %s to %s: %w", src, dst, err)
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return fmt.Errorf("sync %s: %w", dst, err)
	}
	return out.Close()
}
