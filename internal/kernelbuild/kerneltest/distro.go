package kerneltest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"banger/internal/kernelbuild"
	"banger/internal/testtier"
)

// distroTimeout bounds a fresh fetch: a 27 MB download and two passes
// over the package.
const distroTimeout = 10 * time.Minute

var (
	distroOnce   sync.Once
	distroResult kernelbuild.DistroResult
	distroErr    error
	distroSkip   string
	initOnce     sync.Once
	initPath     string
	initErr      error
)

// DistroCacheDir is where the test distro kernel, its package and its
// initramfs are kept.
func DistroCacheDir() (string, error) {
	dir, err := CacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(filepath.Dir(dir), "distro"), nil
}

// InitBinary builds banger-init from this tree (once per test binary)
// and returns its path.
func InitBinary(t testing.TB) string {
	t.Helper()
	initOnce.Do(func() {
		dir, err := os.MkdirTemp("", "banger-init-*")
		if err != nil {
			initErr = err
			return
		}
		initPath = filepath.Join(dir, "banger-init")
		goBin, err := exec.LookPath("go")
		if err != nil {
			initErr = err
			return
		}
		cmd := exec.Command(goBin, "build", "-trimpath", "-ldflags", "-s -w", "-o", initPath, "banger/cmd/banger-init")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			initErr = &buildError{err: err, out: string(out)}
		}
	})
	if initErr != nil {
		t.Fatalf("build banger-init: %v", initErr)
	}
	return initPath
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return e.err.Error() + ": " + e.out }

// Distro returns Debian's cloud kernel with banger's initramfs, fetched
// once per machine into DistroCacheDir (the package is downloaded from the
// configured mirror when it is not installed). Tests skip when apt does
// not know the package.
func Distro(t testing.TB) kernelbuild.DistroResult {
	t.Helper()
	testtier.Slow(t)
	init := InitBinary(t)
	distroOnce.Do(func() {
		dir, err := DistroCacheDir()
		if err != nil {
			distroErr = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), distroTimeout)
		defer cancel()
		start := time.Now()
		distroResult, distroErr = kernelbuild.Distro(ctx, kernelbuild.DistroOptions{WorkDir: dir, Init: init}, nil)
		if distroErr == nil && !distroResult.Cached {
			t.Logf("test distro kernel %s ready in %s", distroResult.Release, time.Since(start).Round(time.Second))
		}
		if _, lookErr := exec.LookPath("apt-cache"); lookErr != nil {
			distroSkip = "needs apt to fetch the distro kernel"
		}
	})
	if distroSkip != "" {
		t.Skip(distroSkip)
	}
	if distroErr != nil {
		t.Fatalf("fetch the distro test kernel: %v", distroErr)
	}
	return distroResult
}
