package kernelbuild

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"banger/internal/errdefs"
	"banger/internal/initramfs"
)

// modFile is a module of a kernel package: its modinfo and where it is.
type modFile struct {
	info initramfs.Modinfo
	path string
}

// kernelFiles is what a scan of a kernel package found.
type kernelFiles struct {
	vmlinuz string // path of the compressed kernel
	config  []byte
	modules map[string]modFile
	builtin map[string]bool
}

// kernelSource is an installed package or a .deb.
type kernelSource struct {
	scan func(ctx context.Context) (kernelFiles, error)
	// read returns the contents of the files at the given paths.
	read func(ctx context.Context, paths []string) (map[string][]byte, error)
}

// packageFile classifies a path of a kernel package (relative, cleaned,
// slash-separated, without a leading "/") for release: "vmlinuz",
// "config", "builtin", "module" or "".
func packageFile(name, release string) string {
	switch name {
	case "boot/vmlinuz-" + release:
		return "vmlinuz"
	case "boot/config-" + release:
		return "config"
	}
	for _, dir := range []string{"lib/modules/" + release + "/", "usr/lib/modules/" + release + "/"} {
		rest, ok := strings.CutPrefix(name, dir)
		switch {
		case !ok:
		case rest == "modules.builtin":
			return "builtin"
		case strings.HasPrefix(rest, "kernel/") && strings.HasSuffix(rest, ".ko"):
			return "module"
		}
	}
	return ""
}

// collect files one entry of a scan into kf.
func (kf *kernelFiles) collect(name, what string, r io.Reader) error {
	switch what {
	case "vmlinuz":
		kf.vmlinuz = name
	case "config":
		b, err := readAllMax(r, maxConfig, name)
		if err != nil {
			return err
		}
		kf.config = b
	case "builtin":
		b, err := readAllMax(r, maxConfig, name)
		if err != nil {
			return err
		}
		kf.builtin = initramfs.ParseBuiltin(b)
	case "module":
		b, err := readAllMax(r, maxModule, name)
		if err != nil {
			return err
		}
		info, err := initramfs.ParseModinfo(b)
		if err != nil {
			return errdefs.InvalidArgumentf("module %s: %v", name, err)
		}
		if prev, dup := kf.modules[info.Name]; dup {
			return errdefs.InvalidArgumentf("module %s is in the package twice (%s and %s)", info.Name, prev.path, name)
		}
		kf.modules[info.Name] = modFile{info: info, path: name}
	}
	return nil
}

func (kf *kernelFiles) check(release string) error {
	if kf.vmlinuz == "" {
		return errdefs.InvalidArgumentf("the package has no boot/vmlinuz-%s", release)
	}
	if kf.config == nil {
		return errdefs.InvalidArgumentf("the package has no boot/config-%s", release)
	}
	return nil
}

// installedSource reads the installed package's files under root ("/").
func installedSource(root, release string) kernelSource {
	return kernelSource{
		scan: func(ctx context.Context) (kernelFiles, error) {
			kf := kernelFiles{modules: map[string]modFile{}}
			var names []string
			names = append(names, "boot/vmlinuz-"+release, "boot/config-"+release, "lib/modules/"+release+"/modules.builtin")
			err := filepath.WalkDir(filepath.Join(root, "lib/modules", release, "kernel"), func(p string, d fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				if d.Type().IsRegular() && strings.HasSuffix(p, ".ko") {
					rel, err := filepath.Rel(root, p)
					if err != nil {
						return err
					}
					names = append(names, filepath.ToSlash(rel))
				}
				return ctx.Err()
			})
			if err != nil {
				return kernelFiles{}, fmt.Errorf("read the installed modules: %w", err)
			}
			for _, n := range names {
				what := packageFile(n, release)
				if what == "vmlinuz" {
					kf.vmlinuz = n
					continue
				}
				f, err := os.Open(filepath.Join(root, n))
				if errors.Is(err, fs.ErrNotExist) && what == "builtin" {
					continue
				}
				if err != nil {
					return kernelFiles{}, err
				}
				err = kf.collect(n, what, f)
				f.Close()
				if err != nil {
					return kernelFiles{}, err
				}
			}
			return kf, kf.check(release)
		},
		read: func(ctx context.Context, paths []string) (map[string][]byte, error) {
			out := map[string][]byte{}
			for _, p := range paths {
				b, err := readLimited(filepath.Join(root, p), maxVmlinuz)
				if err != nil {
					return nil, err
				}
				out[p] = b
			}
			return out, nil
		},
	}
}

// debSource reads a .deb: one pass to scan it, another to read the files
// that are needed, so only those are ever held.
func debSource(deb, release string) kernelSource {
	open := func(fn func(name string, size int64, r io.Reader) error) error {
		f, err := os.Open(deb)
		if err != nil {
			return fmt.Errorf("open %s: %w", deb, err)
		}
		defer f.Close()
		if err := walkDeb(f, fn); err != nil {
			return fmt.Errorf("%s: %w", filepath.Base(deb), err)
		}
		return nil
	}
	return kernelSource{
		scan: func(ctx context.Context) (kernelFiles, error) {
			kf := kernelFiles{modules: map[string]modFile{}}
			err := open(func(name string, _ int64, r io.Reader) error {
				if err := ctx.Err(); err != nil {
					return err
				}
				return kf.collect(filepath.ToSlash(name), packageFile(filepath.ToSlash(name), release), r)
			})
			if err != nil {
				return kernelFiles{}, err
			}
			return kf, kf.check(release)
		},
		read: func(ctx context.Context, paths []string) (map[string][]byte, error) {
			out := map[string][]byte{}
			err := open(func(name string, size int64, r io.Reader) error {
				if err := ctx.Err(); err != nil {
					return err
				}
				name = filepath.ToSlash(name)
				if !slices.Contains(paths, name) {
					return nil
				}
				b, err := readAllMax(r, maxVmlinuz, name)
				out[name] = b
				return err
			})
			for _, p := range paths {
				if _, ok := out[p]; !ok && err == nil {
					err = errdefs.InvalidArgumentf("%s: %s went missing between two reads", filepath.Base(deb), p)
				}
			}
			return out, err
		},
	}
}
