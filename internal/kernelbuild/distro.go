package kernelbuild

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
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
	// HZ is the kernel's timer frequency (CONFIG_HZ of the package's
	// /boot/config-<release>; Debian: 250), 0 if the config does not say.
	// The lpj= a VM boots with follows from it.
	HZ      int
	Modules []string
	Cached  bool
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
	fmt.Fprintf(h, "\x00%s\x00%v\x00%s\x00%s", strings.Join(want, ","), installed, initramfs.Format, distroMeta)
	key := hex.EncodeToString(h.Sum(nil))[:16]
	out := filepath.Join(opts.WorkDir, fmt.Sprintf("%s_%s-%s", res.Package, res.PackageVersion, key))
	res.Vmlinux, res.Initrd = filepath.Join(out, "vmlinux"), filepath.Join(out, "initrd.img")
	if meta, err := os.ReadFile(filepath.Join(out, "done")); err == nil {
		if f := strings.Fields(string(meta)); len(f) >= 2 {
			hz, err := strconv.Atoi(f[1])
			if err != nil {
				return DistroResult{}, fmt.Errorf("read %s: %w; remove that directory to make it again", filepath.Join(out, "done"), err)
			}
			res.Discovery, res.HZ, res.Modules, res.Cached = f[0], hz, f[2:], true
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
	res.HZ = configHZ(kf.config)
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
	meta := res.Discovery + " " + strconv.Itoa(res.HZ) + " " + strings.Join(order, " ") + "\n"
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

// distroMeta names the layout of an output directory's "done" file
// (discovery, HZ, then the modules), part of its key: a directory made
// before HZ was recorded is made again rather than misread.
const distroMeta = "meta2"

// configHZ reads CONFIG_HZ from a kernel config, or 0 when it is not there
// or not a positive number.
func configHZ(config []byte) int {
	sc := bufio.NewScanner(bytes.NewReader(config))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "CONFIG_HZ="); ok {
			if hz, err := strconv.Atoi(v); err == nil && hz > 0 {
				return hz
			}
			return 0
		}
	}
	return 0
}
