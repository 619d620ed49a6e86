// Package kerneltest gives tests banger's real guest kernel. It is built
// once per machine with kernelbuild into a shared cache
// ($XDG_CACHE_HOME or ~/.cache)/banger-test/kernel, guarded by
// kernelbuild's lock so parallel test binaries build it only once. Tests
// skip, naming the package to install, when no linux-source is present.
// It must only be imported by tests.
package kerneltest

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"banger/internal/kernelbuild"
	"banger/internal/testtier"
)

// SeedTree is a kernel tree built by hand that, when finished and
// configured with banger's fragment, seeds an empty cache instead of a
// fresh build.
const SeedTree = "/var/tmp/bk/linux-source-6.1"

// buildTimeout bounds a fresh build; run such tests with go test -timeout
// of at least this much.
const buildTimeout = 40 * time.Minute

var (
	once   sync.Once
	result kernelbuild.Result
	err    error
	skip   string
)

// Vmlinux returns the path of the banger kernel's vmlinux, building it
// first if no test on this machine has.
func Vmlinux(t testing.TB) string {
	t.Helper()
	return kernel(t).Vmlinux
}

// BzImage returns the path of the banger kernel's bzImage.
func BzImage(t testing.TB) string {
	t.Helper()
	return kernel(t).BzImage
}

// Version returns the banger kernel's release, e.g. "6.1.192-banger".
func Version(t testing.TB) string {
	t.Helper()
	return kernel(t).Version
}

// CacheDir is where the test kernel is built and kept.
func CacheDir() (string, error) {
	base := os.Getenv("XDG_CACHE_HOME")
	if !filepath.IsAbs(base) {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", err
		}
		base = filepath.Join(home, ".cache")
	}
	return filepath.Join(base, "banger-test", "kernel"), nil
}

func kernel(t testing.TB) kernelbuild.Result {
	t.Helper()
	testtier.Guest(t) // building the kernel takes minutes
	once.Do(func() { result, skip, err = build(t) })
	if skip != "" {
		t.Skip(skip)
	}
	if err != nil {
		t.Fatalf("build the test kernel: %v", err)
	}
	return result
}

func build(t testing.TB) (kernelbuild.Result, string, error) {
	dir, err := CacheDir()
	if err != nil {
		return kernelbuild.Result{}, "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	opts := kernelbuild.Options{WorkDir: dir}
	if _, statErr := os.Stat(filepath.Join(SeedTree, "vmlinux")); statErr == nil {
		if res, err := kernelbuild.Adopt(ctx, opts, SeedTree); err == nil {
			return res, "", nil
		} else if errors.Is(err, kernelbuild.ErrMissingPrerequisite) {
			return kernelbuild.Result{}, skipMessage(err), nil
		} else {
			t.Logf("not seeding the test kernel from %s: %v", SeedTree, err)
		}
	}
	start := time.Now()
	step := ""
	res, err := kernelbuild.Build(ctx, opts, func(p kernelbuild.Progress) {
		if p.Step != step {
			step = p.Step
			t.Logf("test kernel: %s (%s)", step, time.Since(start).Round(time.Second))
		}
	})
	if errors.Is(err, kernelbuild.ErrMissingPrerequisite) {
		return kernelbuild.Result{}, skipMessage(err), nil
	}
	if err == nil && !res.Cached {
		t.Logf("test kernel %s built in %s into %s", res.Version, time.Since(start).Round(time.Second), dir)
	}
	return res, "", err
}

func skipMessage(err error) string {
	return "needs the banger kernel, which cannot be built here: " + err.Error()
}
