package bench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"banger/internal/api"
	"banger/internal/kernelbuild"
	"banger/internal/kernelbuild/kerneltest"
	"banger/internal/netnstest"
)

// Distro kernel benchmark parameters.
const (
	distroSamples   = 7   // boots on each kernel, alternating
	goalDistroRatio = 1.2 // distro kernel's median time to ready over the built kernel's
	// goalFirstRun is the goal for a first vm run on the distro path.
	goalFirstRun = 2 * time.Minute
)

// BenchmarkDistroKernel prints, side by side from one run, the time from
// `banger vm run` to a ready guest agent on Debian's cloud kernel (with
// banger's initramfs, microvm with ACPI) and on banger's built kernel,
// alternating, and the time to take the distro kernel from an empty cache
// (apt download, unpack, initramfs) next to the kernel build it replaces
// (timed only with BANGER_BENCH_BUILD=1: about 8 minutes here).
func BenchmarkDistroKernel(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), guestBenchTimeout)
	defer cancel()
	var sb strings.Builder

	// Taking the kernel from an empty cache: a fresh work directory, so
	// apt-get downloads the package from the mirror.
	kerneltest.Distro(b) // skips without apt
	tmp := tempDir(b, "bgb-distro-")
	t0 := time.Now()
	var steps []string
	last := t0
	step := ""
	res, err := kernelbuild.Distro(ctx, kernelbuild.DistroOptions{WorkDir: tmp, Init: kerneltest.InitBinary(b), NoInstalled: true},
		func(p kernelbuild.Progress) {
			if p.Step != step {
				if step != "" {
					steps = append(steps, fmt.Sprintf("%s %.1f s", step, time.Since(last).Seconds()))
				}
				step, last = p.Step, time.Now()
			}
		})
	fetch := time.Since(t0)
	if err != nil {
		b.Fatalf("fetch the distro kernel: %v", err)
	}
	steps = append(steps, fmt.Sprintf("%s %.1f s", step, time.Since(last).Seconds()))
	fmt.Fprintf(&sb, "distro kernel %s (%s) from an empty cache: %.1f s (%s)\n", res.Release, res.Origin(), fetch.Seconds(), strings.Join(steps, ", "))
	sizeLine(b, &sb, "vmlinux", res.Vmlinux)
	sizeLine(b, &sb, "initrd.img", res.Initrd)
	if os.Getenv(buildEnv) == "1" {
		bt := time.Now()
		kres, err := kernelbuild.Build(ctx, kernelbuild.Options{WorkDir: tempDir(b, "bgb-kernel-")}, nil)
		if err != nil {
			b.Fatalf("build the kernel: %v", err)
		}
		fmt.Fprintf(&sb, "built kernel %s from an empty cache: %.1f s (%.1f× the distro kernel)\n", kres.Version, time.Since(bt).Seconds(), time.Since(bt).Seconds()/fetch.Seconds())
	} else {
		fmt.Fprintf(&sb, "built kernel from an empty cache: not timed; run with %s=1 (and -timeout 60m)\n", buildEnv)
	}
	b.ReportMetric(fetch.Seconds(), "distro-fetch-s")

	// Boot to a ready agent on both kernels, through the daemon.
	w := newGuestWorld(b)
	w.env = append(w.env, "BANGER_INIT_BIN="+kerneltest.InitBinary(b))
	seed := w.path("cache/banger/kernel-distro/debs")
	if err := os.MkdirAll(seed, 0o755); err != nil {
		b.Fatal(err)
	}
	debs, _ := filepath.Glob(filepath.Join(tmp, "debs", "*.deb"))
	for _, d := range debs {
		if err := os.Link(d, filepath.Join(seed, filepath.Base(d))); err != nil {
			b.Fatal(err)
		}
	}
	w.startDaemon(ctx)
	w.registerImage(ctx)
	k, err := w.client.FetchKernel(ctx, api.FetchKernelRequest{Name: "distro"}, nil)
	if err != nil {
		b.Fatalf("banger kernel fetch: %v\ndaemon log:\n%s", err, w.daemonLog())
	}
	if _, err := w.client.RegisterImage(ctx, api.RegisterImageRequest{Name: "distro", RootFS: w.rootfs, Kernel: k.Vmlinux, Initrd: k.Initrd}); err != nil {
		b.Fatal(err)
	}
	w.warmUp(ctx)
	ready := map[string][]time.Duration{}
	var errs []string
	for range b.N {
		for i := range distroSamples {
			for _, image := range []string{imageName, "distro"} {
				d, err := w.readyTime(ctx, image)
				if err != nil {
					errs = append(errs, fmt.Sprintf("%s sample %d: %v", image, i+1, err))
					continue
				}
				ready[image] = append(ready[image], d)
			}
		}
	}
	built, okB := medianOf(ready[imageName], func(d time.Duration) time.Duration { return d })
	distro, okD := medianOf(ready["distro"], func(d time.Duration) time.Duration { return d })
	fmt.Fprintf(&sb, "vm run to a ready agent, median of %d, alternating (qemu, %d vCPU, %d MiB):\n", distroSamples, guestVCPUs, guestMemory)
	fmt.Fprintf(&sb, "  built kernel  %6.2f s  %v\n", built.Seconds(), ready[imageName])
	fmt.Fprintf(&sb, "  distro kernel %6.2f s  %v\n", distro.Seconds(), ready["distro"])
	if okB && okD && built > 0 {
		ratio := distro.Seconds() / built.Seconds()
		verdict := "meets"
		if ratio > goalDistroRatio {
			verdict = "MISSES"
		}
		fmt.Fprintf(&sb, "  distro/built %.2f× (goal ≤ %.1f×: %s)\n", ratio, goalDistroRatio, verdict)
		b.ReportMetric(ratio, "distro/built")
		first := fetch + distro
		fmt.Fprintf(&sb, "first vm run on the distro path without the image build: %.1f s (kernel from an empty cache + boot); "+
			"add the default image build (BenchmarkImageBuild) for the whole first run; goal < %s\n", first.Seconds(), goalFirstRun)
	}
	for _, e := range errs {
		fmt.Fprintf(&sb, "ERROR %s\n", e)
	}
	printFigures(b, sb.String())
	b.ReportMetric(0, "ns/op")
}

// readyTime runs `banger vm run --rm --image image -- true` and returns
// the time to ready banger printed.
func (w *world) readyTime(ctx context.Context, image string) (time.Duration, error) {
	cmd := netnstest.Command(ctx, w.netns, bangerCLI(w.tb), "vm", "run", "--rm", "--image", image, "--", "true")
	cmd.Env = w.env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return 0, fmt.Errorf("banger vm run: %w\nstderr: %s\ndaemon log:\n%s", err, stderr.String(), lastLines(w.daemonLog(), 15))
	}
	return readyDuration(stderr.String())
}
