package kernelbuild

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"banger/internal/errdefs"
)

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
