package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"banger/internal/errdefs"
	"banger/internal/imagebuild"
	"banger/internal/imagebuild/imagetest"
	"banger/internal/kernelbuild"
	"banger/internal/kernelbuild/kerneltest"
)

// buildEnv, set to 1, makes the build benchmarks time fresh builds of the
// default image and the kernel (network and root needed; the kernel takes
// about 8 minutes on 2 cores: run with -timeout 60m). Without it they print
// the sizes of the cached test image and kernel.
const buildEnv = "BANGER_BENCH_BUILD"

// buildTimeout bounds one fresh build.
const buildTimeout = 50 * time.Minute

// BenchmarkImageBuild prints the size of the default image; with
// BANGER_BENCH_BUILD=1 it builds one afresh into a temporary directory and
// prints the build time too.
func BenchmarkImageBuild(b *testing.B) {
	if os.Getenv(buildEnv) != "1" {
		var sb strings.Builder
		fmt.Fprintf(&sb, "default image (cached by imagetest, not rebuilt):\n")
		sizeLine(b, &sb, "rootfs.ext4", imagetest.RootFS(b))
		fmt.Fprintf(&sb, "build time: not measured; run with %s=1 to time a fresh build\n", buildEnv)
		printFigures(b, sb.String())
		b.ReportMetric(0, "ns/op")
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	tmp := tempDir(b, "bgb-image-")
	agent, err := imagetest.AgentBinary(tmp)
	if err != nil {
		b.Fatalf("build the agent: %v", err)
	}
	t0 := time.Now()
	res, err := imagebuild.Build(ctx, imagebuild.Options{AgentBinary: agent, WorkDir: filepath.Join(tmp, "work")}, nil)
	took := time.Since(t0)
	if errdefs.Is(err, errdefs.FailedPrecondition) {
		b.Skipf("cannot build the default image here: %v", err)
	}
	if err != nil {
		b.Fatalf("build the default image: %v", err)
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "default image, fresh build: %.1f s\n", took.Seconds())
	sizeLine(b, &sb, "rootfs.ext4", res.RootFS)
	printFigures(b, sb.String())
	b.ReportMetric(took.Seconds(), "build-s")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkKernelBuild prints the sizes of banger's kernel; with
// BANGER_BENCH_BUILD=1 it builds it afresh into a temporary directory and
// prints the build time too.
func BenchmarkKernelBuild(b *testing.B) {
	if os.Getenv(buildEnv) != "1" {
		var sb strings.Builder
		fmt.Fprintf(&sb, "kernel %s (cached by kerneltest, not rebuilt):\n", kerneltest.Version(b))
		sizeLine(b, &sb, "vmlinux", kerneltest.Vmlinux(b))
		sizeLine(b, &sb, "bzImage", kerneltest.BzImage(b))
		fmt.Fprintf(&sb, "build time: not measured; run with %s=1 (and -timeout 60m) to time a fresh build\n", buildEnv)
		printFigures(b, sb.String())
		b.ReportMetric(0, "ns/op")
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	tmp := tempDir(b, "bgb-kernel-")
	t0 := time.Now()
	res, err := kernelbuild.Build(ctx, kernelbuild.Options{WorkDir: tmp}, nil)
	took := time.Since(t0)
	if errors.Is(err, kernelbuild.ErrMissingPrerequisite) {
		b.Skipf("cannot build the kernel here: %v", err)
	}
	if err != nil {
		b.Fatalf("build the kernel: %v", err)
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "kernel %s, fresh build (source unpacked, configured, compiled): %.1f s\n", res.Version, took.Seconds())
	sizeLine(b, &sb, "vmlinux", res.Vmlinux)
	sizeLine(b, &sb, "bzImage", res.BzImage)
	printFigures(b, sb.String())
	b.ReportMetric(took.Seconds(), "build-s")
	b.ReportMetric(0, "ns/op")
}

// sizeLine writes the apparent and allocated size of path and reports
// them as metrics named after label.
func sizeLine(b *testing.B, sb *strings.Builder, label, path string) {
	b.Helper()
	apparent, allocated, err := fileSize(path)
	if err != nil {
		b.Fatalf("stat %s: %v", label, err)
	}
	fmt.Fprintf(sb, "  %-12s %8.1f MiB apparent, %8.1f MiB allocated  %s\n",
		label, float64(apparent)/(1<<20), float64(allocated)/(1<<20), path)
	b.ReportMetric(float64(apparent)/(1<<20), label+"-MiB")
	b.ReportMetric(float64(allocated)/(1<<20), label+"-alloc-MiB")
}

// tempDir makes a temporary directory removed when the benchmark ends.
func tempDir(b *testing.B, prefix string) string {
	b.Helper()
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		b.Fatalf("create a temporary directory: %v", err)
	}
	b.Cleanup(func() {
		if err := os.RemoveAll(dir); err != nil {
			b.Errorf("remove %s: %v", dir, err)
		}
	})
	return dir
}

// fileSize returns the apparent size of path and the space allocated to
// it.
func fileSize(path string) (apparent, allocated int64, err error) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, 0, err
	}
	allocated = fi.Size()
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		allocated = st.Blocks * 512 // st_blocks counts 512-byte units
	}
	return fi.Size(), allocated, nil
}
