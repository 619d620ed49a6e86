package kernelbuild

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"time"

	"golang.org/x/sys/unix"

	"banger/internal/errdefs"
)

// The named steps of a build, in order, as reported through Progress.Step.
const (
	StepCheckTools = "check-tools"
	StepFindSource = "find-source"
	StepExtract    = "extract"
	StepConfigure  = "configure"
	StepCompile    = "compile"
	StepInstall    = "install"
)

// Steps lists the build steps in the order they run.
var Steps = []string{StepFindSource, StepCheckTools, StepExtract, StepConfigure, StepCompile, StepInstall}

// DefaultSourceGlob is where Debian's linux-source packages put their
// tarballs; the newest version found is the default source.
const DefaultSourceGlob = "/usr/src/linux-source-*.tar.xz"

// Options configure a build.
type Options struct {
	// Source is the kernel source tarball; "" picks the newest
	// /usr/src/linux-source-*.tar.xz.
	Source string
	// WorkDir is the cache directory that holds extracted sources and
	// build outputs. Required.
	WorkDir string
	// Jobs is make's -j; 0 means runtime.NumCPU().
	Jobs int
}

// Result is a finished build.
type Result struct {
	Vmlinux string // uncompressed ELF kernel, for Firecracker and qemu -kernel
	BzImage string // arch/x86/boot/bzImage
	Version string // `make -s kernelrelease`, e.g. "6.1.192-banger"
	Cached  bool   // the output came from an earlier build
	Source  string // the tarball it was built from
}

// Progress is one report from a running build. Fraction is the step's
// estimated completion (0..1); Detail is a line of output or a note. When
// TotalUnits is non-zero, Current of TotalUnits counts the step's work in
// Unit (the compile's kbuild targets, "objects").
type Progress struct {
	Step       string
	Detail     string
	Fraction   float64
	Current    int64
	TotalUnits int64
	Unit       string
}

// Build compiles banger's kernel from a linux-source tarball, or returns
// the output of an earlier build of the same tarball and fragment at once.
// progress may be nil. Cancelling ctx kills make and leaves no partial
// output; the extracted source stays for the next attempt.
func Build(ctx context.Context, opts Options, progress func(Progress)) (Result, error) {
	return defaultBuilder().build(ctx, opts, progress)
}

// builder holds what tests replace: the tools required, where sources are
// found, the fragment, and how long to wait between lock attempts.
type builder struct {
	tools      []string
	headers    []string
	lookPath   func(string) (string, error)
	sourceGlob string
	fragment   string
	lockPoll   time.Duration
}

func defaultBuilder() builder {
	return builder{
		tools:      requiredTools,
		headers:    requiredHeaders,
		lookPath:   exec.LookPath,
		sourceGlob: DefaultSourceGlob,
		fragment:   Fragment,
		lockPoll:   250 * time.Millisecond,
	}
}

func (b builder) build(ctx context.Context, opts Options, progress func(Progress)) (Result, error) {
	if progress == nil {
		progress = func(Progress) {}
	}
	if opts.WorkDir == "" || !filepath.IsAbs(opts.WorkDir) {
		return Result{}, errdefs.InvalidArgumentf("kernel build work directory %q must be an absolute path", opts.WorkDir)
	}
	if opts.Jobs < 0 {
		return Result{}, errdefs.InvalidArgumentf("jobs %d: must be 0 (one per CPU) or more", opts.Jobs)
	}
	jobs := opts.Jobs
	if jobs == 0 {
		jobs = runtime.NumCPU()
	}
	if err := os.MkdirAll(opts.WorkDir, 0o755); err != nil {
		return Result{}, fmt.Errorf("create kernel work directory: %w", err)
	}
	unlock, err := lockDir(ctx, opts.WorkDir, b.lockPoll, func() {
		progress(Progress{Step: StepFindSource, Detail: "waiting for another kernel build in " + opts.WorkDir})
	})
	if err != nil {
		return Result{}, err
	}
	defer unlock()

	progress(Progress{Step: StepFindSource})
	src, err := b.findSource(opts.Source)
	if err != nil {
		return Result{}, err
	}
	progress(Progress{Step: StepFindSource, Detail: src, Fraction: 0.5})
	srcSum, err := hashFile(ctx, src)
	if err != nil {
		return Result{}, err
	}
	progress(Progress{Step: StepFindSource, Detail: "sha256 " + srcSum, Fraction: 1})
	out := filepath.Join(opts.WorkDir, "out-"+outputKey(srcSum, b.fragment))
	if res, ok := cachedResult(out); ok {
		progress(Progress{Step: StepInstall, Detail: "cached in " + out, Fraction: 1})
		res.Source = src
		return res, nil
	}

	progress(Progress{Step: StepCheckTools})
	if err := b.checkTools(); err != nil {
		return Result{}, err
	}
	progress(Progress{Step: StepCheckTools, Fraction: 1})

	tree, err := extract(ctx, src, srcSum, opts.WorkDir, progress)
	if err != nil {
		return Result{}, err
	}
	if err := configure(ctx, tree, opts.WorkDir, b.fragment, progress); err != nil {
		return Result{}, err
	}
	if err := compile(ctx, tree, opts.WorkDir, jobs, progress); err != nil {
		return Result{}, err
	}
	res, err := install(ctx, tree, out, progress)
	res.Source = src
	return res, err
}

// outputKey names a build's output: the tarball and the fragment decide it.
func outputKey(srcSum, fragment string) string {
	h := sha256.Sum256([]byte(srcSum + "\n" + fragment))
	return hex.EncodeToString(h[:])[:16]
}

// lockDir takes an exclusive flock on dir/lock, polling so that ctx can
// cancel the wait. waiting is called once if the lock is busy.
func lockDir(ctx context.Context, dir string, poll time.Duration, waiting func()) (func(), error) {
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open kernel build lock: %w", err)
	}
	told := false
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return func() { _ = f.Close() }, nil
		}
		if err != unix.EWOULDBLOCK {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", f.Name(), err)
		}
		if !told {
			waiting()
			told = true
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(poll):
		}
	}
}
