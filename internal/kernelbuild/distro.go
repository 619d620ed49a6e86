package kernelbuild

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"banger/internal/errdefs"
	"banger/internal/initramfs"
)

// DefaultDistroPackage is the distribution package whose kernel banger
// boots by default: Debian's kernel for virtual machines, with virtio,
// vsock and the virtio console as modules.
const DefaultDistroPackage = "linux-image-cloud-amd64"

// The named steps of a distro kernel fetch, in order.
const (
	StepResolve   = "resolve"
	StepDownload  = "download"
	StepUnpack    = "unpack"
	StepInitramfs = "initramfs"
)

// DistroSteps lists the steps of Distro in the order they run.
var DistroSteps = []string{StepResolve, StepDownload, StepUnpack, StepInitramfs}

// Virtio device discovery: how a kernel finds virtio-mmio devices.
const (
	// DiscoveryCmdline: virtio_mmio.device= on the command line
	// (CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES), which qemu's microvm adds
	// with acpi=off and Firecracker always adds.
	DiscoveryCmdline = "cmdline"
	// DiscoveryACPI: the "LNRO0005" devices of the ACPI DSDT, which
	// qemu's microvm describes with acpi=on and Firecracker since 1.8.0.
	DiscoveryACPI = "acpi"
)

// Limits on the files of a kernel package.
const (
	maxVmlinuz = 128 << 20
	maxConfig  = 4 << 20
	maxModule  = 64 << 20
)

// DistroOptions configure Distro.
type DistroOptions struct {
	// Package is the kernel package, a metapackage such as
	// linux-image-cloud-amd64 (resolved to the versioned package it
	// depends on) or a versioned linux-image-RELEASE. "" is
	// DefaultDistroPackage.
	Package string
	// WorkDir caches downloaded packages and outputs. Required.
	WorkDir string
	// Init is the banger-init executable to put in the initramfs. Required.
	Init string
	// Modules are the modules the initramfs loads (with their
	// dependencies); nil is initramfs.Needed.
	Modules []string
	// NoInstalled ignores an installed package and downloads it.
	NoInstalled bool
}

// DistroResult is a kernel taken from a distribution package.
type DistroResult struct {
	Vmlinux        string
	Initrd         string
	Release        string // kernel release, "6.1.0-57-cloud-amd64"
	Package        string // the versioned package, "linux-image-6.1.0-57-cloud-amd64"
	PackageVersion string // "6.1.192-3"
	PackageSize    int64  // of the .deb, as apt's lists say; 0 if unknown
	Installed      bool   // taken from the installed package, not downloaded
	Discovery      string // DiscoveryCmdline or DiscoveryACPI
	Modules        []string
	Cached         bool
}

// Origin says where the kernel came from, for people.
func (r DistroResult) Origin() string {
	how := "downloaded"
	if r.Installed {
		how = "installed"
	}
	return fmt.Sprintf("distro package %s %s (%s)", r.Package, r.PackageVersion, how)
}

// Distro takes the kernel of a distribution package: from the installed
// package when it is installed, else from its .deb downloaded with
// apt-get from the configured mirror (apt checks it against its signed
// lists; no root needed). It unpacks the vmlinuz to a vmlinux and builds
// the initramfs with banger-init and the modules banger's VMs need.
// Outputs are kept in WorkDir and reused.
func Distro(ctx context.Context, opts DistroOptions, progress func(Progress)) (DistroResult, error) {
	if progress == nil {
		progress = func(Progress) {}
	}
	if opts.WorkDir == "" || opts.Init == "" {
		return DistroResult{}, errdefs.InvalidArgumentf("distro kernel: a work directory and the banger-init binary are required")
	}
	pkg := opts.Package
	if pkg == "" {
		pkg = DefaultDistroPackage
	}
	if !validPackage(pkg) {
		return DistroResult{}, errdefs.InvalidArgumentf("package %q is not a Debian package name", pkg)
	}
	want := opts.Modules
	if want == nil {
		want = initramfs.Needed
	}
	initBin, err := readLimited(opts.Init, 64<<20)
	if err != nil {
		return DistroResult{}, fmt.Errorf("read banger-init: %w", err)
	}

	progress(Progress{Step: StepResolve, Detail: pkg})
	res, err := resolvePackage(ctx, pkg)
	if err != nil {
		return DistroResult{}, err
	}
	installed := !opts.NoInstalled && isInstalled(ctx, res.Package, res.Release)
	if installed {
		res.PackageVersion = installedVersion(ctx, res.Package, res.PackageVersion)
	}
	res.Installed = installed
	progress(Progress{Step: StepResolve, Detail: res.Package + " " + res.PackageVersion, Fraction: 1})

	h := sha256.New()
	h.Write(initBin)
	fmt.Fprintf(h, "\x00%s\x00%v", strings.Join(want, ","), installed)
	key := hex.EncodeToString(h.Sum(nil))[:16]
	out := filepath.Join(opts.WorkDir, fmt.Sprintf("%s_%s-%s", res.Package, res.PackageVersion, key))
	res.Vmlinux, res.Initrd = filepath.Join(out, "vmlinux"), filepath.Join(out, "initrd.img")
	if meta, err := os.ReadFile(filepath.Join(out, "done")); err == nil {
		if f := strings.Fields(string(meta)); len(f) >= 1 {
			res.Discovery, res.Modules, res.Cached = f[0], f[1:], true
			progress(Progress{Step: StepInitramfs, Detail: "cached", Fraction: 1})
			return res, nil
		}
	}
	if err := os.MkdirAll(opts.WorkDir, 0o755); err != nil {
		return DistroResult{}, fmt.Errorf("create %s: %w", opts.WorkDir, err)
	}

	var src kernelSource
	if installed {
		progress(Progress{Step: StepDownload, Detail: "installed: nothing to download", Fraction: 1})
		src = installedSource("/", res.Release)
	} else {
		deb, err := download(ctx, opts.WorkDir, res.Package, res.PackageVersion, res.PackageSize, progress)
		if err != nil {
			return DistroResult{}, err
		}
		src = debSource(deb, res.Release)
	}

	progress(Progress{Step: StepUnpack, Detail: "reading modules"})
	kf, err := src.scan(ctx)
	if err != nil {
		return DistroResult{}, err
	}
	if res.Discovery, err = discovery(kf.config); err != nil {
		return DistroResult{}, fmt.Errorf("kernel %s: %w", res.Release, err)
	}
	infos := map[string]initramfs.Modinfo{}
	for n, m := range kf.modules {
		infos[n] = m.info
	}
	order, err := initramfs.Resolve(want, infos, kf.builtin)
	if err != nil {
		return DistroResult{}, fmt.Errorf("kernel %s: %w", res.Release, err)
	}
	for _, n := range order {
		if err := initramfs.CheckVermagic(infos[n], res.Release); err != nil {
			return DistroResult{}, err
		}
	}
	paths := []string{kf.vmlinuz}
	for _, n := range order {
		paths = append(paths, kf.modules[n].path)
	}
	files, err := src.read(ctx, paths)
	if err != nil {
		return DistroResult{}, err
	}
	progress(Progress{Step: StepUnpack, Detail: "unpacking " + path.Base(kf.vmlinuz), Fraction: 0.5})

	tmp, err := os.MkdirTemp(opts.WorkDir, ".distro-*")
	if err != nil {
		return DistroResult{}, fmt.Errorf("create a work directory: %w", err)
	}
	defer os.RemoveAll(tmp)
	vmlinuz := filepath.Join(tmp, "vmlinuz")
	if err := os.WriteFile(vmlinuz, files[kf.vmlinuz], 0o644); err != nil {
		return DistroResult{}, fmt.Errorf("write %s: %w", vmlinuz, err)
	}
	if err := Unpack(vmlinuz, filepath.Join(tmp, "vmlinux")); err != nil {
		return DistroResult{}, err
	}
	_ = os.Remove(vmlinuz)
	progress(Progress{Step: StepUnpack, Detail: "vmlinux", Fraction: 1})

	progress(Progress{Step: StepInitramfs, Detail: strings.Join(order, " ")})
	spec := initramfs.Spec{Release: res.Release, Init: initBin}
	for _, n := range order {
		spec.Modules = append(spec.Modules, initramfs.Module{Info: infos[n], Data: files[kf.modules[n].path]})
	}
	var img bytes.Buffer
	if err := initramfs.Write(&img, spec); err != nil {
		return DistroResult{}, err
	}
	if err := writeFileAtomic(filepath.Join(tmp, "initrd.img"), img.Bytes()); err != nil {
		return DistroResult{}, err
	}
	res.Modules = order
	meta := res.Discovery + " " + strings.Join(order, " ") + "\n"
	if err := os.WriteFile(filepath.Join(tmp, "done"), []byte(meta), 0o644); err != nil {
		return DistroResult{}, err
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return DistroResult{}, err
	}
	if err := os.Rename(tmp, out); err != nil && !errors.Is(err, fs.ErrExist) && !isNotEmpty(err) {
		return DistroResult{}, fmt.Errorf("install %s: %w", out, err)
	}
	progress(Progress{Step: StepInitramfs, Detail: fmt.Sprintf("%d modules, %d KiB", len(order), img.Len()>>10), Fraction: 1})
	return res, nil
}

func isNotEmpty(err error) bool {
	var le *os.LinkError
	return errors.As(err, &le) && (errors.Is(le.Err, fs.ErrExist) || strings.Contains(le.Err.Error(), "not empty"))
}

// DistroPreflight checks what Distro needs on the host, apt-cache and
// apt-get, and returns apt-get's path.
func DistroPreflight() (string, error) {
	if _, err := exec.LookPath("apt-cache"); err != nil {
		return "", errdefs.FailedPreconditionf("apt-cache not found: the distro kernel comes from apt")
	}
	p, err := exec.LookPath("apt-get")
	if err != nil {
		return "", errdefs.FailedPreconditionf("apt-get not found: the distro kernel comes from apt")
	}
	return p, nil
}

// validPackage reports whether s is a Debian package name (and so safe as
// an apt argument).
func validPackage(s string) bool {
	if len(s) < 2 || len(s) > 128 || !(s[0] >= 'a' && s[0] <= 'z' || s[0] >= '0' && s[0] <= '9') {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '+' || r == '-' || r == '.') {
			return false
		}
	}
	return true
}

// resolvePackage turns pkg into the versioned linux-image package it is or
// depends on, with the version apt would install.
func resolvePackage(ctx context.Context, pkg string) (DistroResult, error) {
	if _, err := exec.LookPath("apt-cache"); err != nil {
		return DistroResult{}, errdefs.FailedPreconditionf("the distro kernel comes from apt, and apt-cache is not installed: use \"banger kernel build\"")
	}
	image := pkg
	out, err := run(ctx, "", nil, "apt-cache", "depends", "--no-recommends", "--no-suggests", "--no-conflicts", "--no-breaks", "--no-replaces", "--no-enhances", pkg)
	if err != nil {
		return DistroResult{}, errdefs.FailedPreconditionf("apt does not know package %s (run \"apt-get update\"?): %v", pkg, lastLine(out, err))
	}
	for _, line := range strings.Split(out, "\n") {
		dep, ok := strings.CutPrefix(strings.TrimSpace(line), "Depends: ")
		if ok && strings.HasPrefix(dep, "linux-image-") && validPackage(dep) {
			image = dep
			break
		}
	}
	release, ok := strings.CutPrefix(image, "linux-image-")
	if !ok || release == "" || release[0] < '0' || release[0] > '9' {
		return DistroResult{}, errdefs.InvalidArgumentf("package %s is not a linux-image package and depends on none: name a kernel package such as %s", pkg, DefaultDistroPackage)
	}
	out, err = run(ctx, "", nil, "apt-cache", "show", "--no-all-versions", image)
	if err != nil {
		return DistroResult{}, errdefs.FailedPreconditionf("apt does not know package %s (run \"apt-get update\"?): %v", image, lastLine(out, err))
	}
	version := field(out, "Version")
	if version == "" {
		return DistroResult{}, errdefs.FailedPreconditionf("apt has no version of %s to install (run \"apt-get update\"?)", image)
	}
	size, _ := strconv.ParseInt(field(out, "Size"), 10, 64)
	return DistroResult{Package: image, PackageVersion: version, Release: release, PackageSize: size}, nil
}

func field(control, name string) string {
	for _, line := range strings.Split(control, "\n") {
		if v, ok := strings.CutPrefix(line, name+": "); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func lastLine(out string, err error) string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if l := lines[len(lines)-1]; l != "" {
		return l
	}
	return err.Error()
}

// isInstalled reports whether the package is installed with its kernel
// and modules readable by this user.
func isInstalled(ctx context.Context, pkg, release string) bool {
	out, err := run(ctx, "", nil, "dpkg-query", "-W", "-f", "${db:Status-Status}", pkg)
	if err != nil || strings.TrimSpace(out) != "installed" {
		return false
	}
	for _, p := range []string{"/boot/vmlinuz-" + release, "/boot/config-" + release} {
		f, err := os.Open(p)
		if err != nil {
			return false
		}
		f.Close()
	}
	_, err = os.Stat(filepath.Join("/lib/modules", release, "kernel"))
	return err == nil
}

func installedVersion(ctx context.Context, pkg, fallback string) string {
	out, err := run(ctx, "", nil, "dpkg-query", "-W", "-f", "${Version}", pkg)
	if v := strings.TrimSpace(out); err == nil && v != "" {
		return v
	}
	return fallback
}

// download fetches pkg=version with apt-get into dir/debs (kept for the
// next fetch) and returns the .deb's path. apt-get verifies it against
// the hashes of its signed package lists.
func download(ctx context.Context, dir, pkg, version string, size int64, progress func(Progress)) (string, error) {
	debs := filepath.Join(dir, "debs")
	if err := os.MkdirAll(debs, 0o755); err != nil {
		return "", fmt.Errorf("create %s: %w", debs, err)
	}
	if p, ok := findDeb(debs, pkg, version); ok {
		progress(Progress{Step: StepDownload, Detail: "cached " + filepath.Base(p), Fraction: 1})
		return p, nil
	}
	progress(Progress{Step: StepDownload, Detail: pkg + " " + version})
	tmp, err := os.MkdirTemp(debs, ".download-*")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	// APT::Status-Fd=1 makes apt print "dlstatus:N:PERCENT:message" lines:
	// the download's progress in bytes.
	// Other lines carry the fraction so far: it never goes back.
	fraction := 0.0
	out, err := run(ctx, tmp, func(line string) {
		if pct, ok := dlstatus(line); ok {
			fraction = max(fraction, pct/100)
			p := Progress{Step: StepDownload, Detail: fmt.Sprintf("%s %.0f%%", pkg, pct), Fraction: fraction}
			if size > 0 {
				p.Current, p.TotalUnits, p.Unit = int64(fraction*float64(size)), size, "bytes"
			}
			progress(p)
			return
		}
		progress(Progress{Step: StepDownload, Detail: line, Fraction: fraction})
	}, "apt-get", "download", "-q", "-o", "APT::Status-Fd=1", pkg+"="+version)
	if err != nil {
		return "", errdefs.Unavailablef("download %s %s with apt-get: %v: check the mirror in /etc/apt/sources.list, or install the package", pkg, version, lastLine(out, err))
	}
	p, ok := findDeb(tmp, pkg, version)
	if !ok {
		return "", errdefs.Internalf("apt-get download %s=%s left no .deb in %s", pkg, version, tmp)
	}
	dst := filepath.Join(debs, filepath.Base(p))
	if err := os.Rename(p, dst); err != nil {
		return "", err
	}
	if st, err := os.Stat(dst); err == nil {
		progress(Progress{Step: StepDownload, Detail: fmt.Sprintf("%s (%d MiB)", filepath.Base(dst), st.Size()>>20), Fraction: 1})
	}
	return dst, nil
}

// dlstatus reads the percentage of an apt status line
// ("dlstatus:1:45.2000:Retrieving file 1 of 1").
func dlstatus(line string) (float64, bool) {
	rest, ok := strings.CutPrefix(line, "dlstatus:")
	if !ok {
		return 0, false
	}
	f := strings.SplitN(rest, ":", 3)
	if len(f) < 2 {
		return 0, false
	}
	pct, err := strconv.ParseFloat(f[1], 64)
	if err != nil || pct < 0 || pct > 100 {
		return 0, false
	}
	return pct, true
}

// findDeb finds pkg_version_*.deb in dir (apt writes an epoch's colon as
// "%3a").
func findDeb(dir, pkg, version string) (string, bool) {
	matches, _ := filepath.Glob(filepath.Join(dir, pkg+"_"+strings.ReplaceAll(version, ":", "%3a")+"_*.deb"))
	if len(matches) == 0 {
		return "", false
	}
	return matches[0], true
}

// discovery reads how the kernel finds virtio-mmio devices from its
// config.
func discovery(config []byte) (string, error) {
	has := func(opt string) bool {
		sc := bufio.NewScanner(bytes.NewReader(config))
		for sc.Scan() {
			if l := sc.Text(); l == opt+"=y" || l == opt+"=m" {
				return true
			}
		}
		return false
	}
	switch {
	case has("CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES"):
		return DiscoveryCmdline, nil
	case has("CONFIG_ACPI"):
		return DiscoveryACPI, nil
	}
	return "", errdefs.FailedPreconditionf("it finds virtio-mmio devices neither on the command line (CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES) nor through ACPI (CONFIG_ACPI): banger cannot attach its disks; use \"banger kernel build\"")
}

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
