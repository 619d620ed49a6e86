package daemon

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"banger/internal/api"
	"banger/internal/disk"
	"banger/internal/images"
	"banger/internal/kernelbuild"
	"banger/internal/kernels"
	"banger/internal/store"
	"banger/internal/vm"
)

// blockingBuild is a stand-in for a long build: it reports a counted step
// and then works until its context ends, which it records.
type blockingBuild struct {
	ended chan error
}

func (b *blockingBuild) wait(ctx context.Context) error {
	<-ctx.Done()
	b.ended <- ctx.Err()
	return ctx.Err()
}

// Build is kernels.Host's.
func (b *blockingBuild) Build(ctx context.Context, _ kernelbuild.Options, progress func(kernelbuild.Progress)) (kernelbuild.Result, error) {
	progress(kernelbuild.Progress{Step: kernelbuild.StepCompile, Detail: "  CC      init/main.o", Fraction: 0.25,
		Current: 400, TotalUnits: 1600, Unit: "objects"})
	return kernelbuild.Result{}, b.wait(ctx)
}

// Distro is kernels.Host's: a fetch blocked in its download.
func (b *blockingBuild) Distro(ctx context.Context, _ kernelbuild.DistroOptions, progress func(kernelbuild.Progress)) (kernelbuild.DistroResult, error) {
	progress(kernelbuild.Progress{Step: kernelbuild.StepDownload, Detail: "linux-image-6.1.0-57-cloud-amd64", Fraction: 0.5,
		Current: 13 << 20, TotalUnits: 26 << 20, Unit: "bytes"})
	return kernelbuild.DistroResult{}, b.wait(ctx)
}

func (b *blockingBuild) DetectKernel(string) (disk.KernelFormat, error) {
	return "", errors.New("not used")
}

func (b *blockingBuild) Unpack(string, string) error { return errors.New("not used") }

// imageBuild is images.Builder's Build.
type imageBuild struct{ *blockingBuild }

func (b imageBuild) Build(ctx context.Context, _ images.BuildSpec, progress func(images.Progress)) (images.BuildOutput, error) {
	progress(images.Progress{Step: "bootstrap", Index: 2, Total: 5, Detail: "Setting up libc6:amd64 (2.36-9) ...",
		Fraction: 0.3, Current: 12, TotalUnits: 69, Unit: "packages"})
	return images.BuildOutput{}, b.wait(ctx)
}

// TestBuildCancelledWhenClientGoesAway starts a kernel build, a kernel
// fetch and an image build
// on a daemon whose builders block, reads the first progress event (with
// its count) and hangs up: the build's context must end, and nothing is
// recorded.
func TestBuildCancelledWhenClientGoesAway(t *testing.T) {
	b := &blockingBuild{ended: make(chan error, 3)}
	td := startDaemon(t, daemonOpts{beforeServe: func(td *testDaemon, _ net.Listener) {
		d := td.d
		d.kernels = kernels.New(kernels.Config{Store: d.store, Host: b, Dir: filepath.Join(td.layout.StateDir, "kernels"),
			WorkDir: filepath.Join(td.layout.CacheDir, "kernel-build"), NewID: vm.NewID})
		d.images = images.New(d.store, inspector{}, vm.NewID, images.WithBuilder(imageBuild{b}, filepath.Join(td.layout.StateDir, "images")))
	}})
	tests := []struct {
		path, body string
		want       api.Event
	}{
		{"/v1/kernels/build", `{"name":"k2"}`, api.Event{Type: api.EventStep, Kind: "kernel.build", Target: "k2", Step: "compile",
			Detail: "  CC      init/main.o", Fraction: 0.25, Current: 400, TotalUnits: 1600, Unit: "objects"}},
		{"/v1/kernels/fetch", `{"name":"k3"}`, api.Event{Type: api.EventStep, Kind: "kernel.fetch", Target: "k3", Step: "download",
			Detail: "linux-image-6.1.0-57-cloud-amd64", Fraction: 0.5, Current: 13 << 20, TotalUnits: 26 << 20, Unit: "bytes"}},
		{"/v1/images/build", `{"name":"img2"}`, api.Event{Type: api.EventStep, Kind: "image.build", Target: "img2", Step: "bootstrap",
			Index: 2, Total: 5, Detail: "Setting up libc6:amd64 (2.36-9) ...", Fraction: 0.3, Current: 12, TotalUnits: 69, Unit: "packages"}},
	}
	// The image build needs its kernel.
	k := store.Kernel{ID: "00000000000000aa", Name: "default", Vmlinux: "/nonexistent", Source: "imported",
		SHA256: strings.Repeat("0", 64), Size: 1}
	if err := td.d.store.CreateKernel(context.Background(), k); err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		resp := td.open("POST", tc.path, tc.body, "Accept", api.NDJSON)
		sc := bufio.NewScanner(resp.Body)
		var got api.Event
		for sc.Scan() {
			if err := json.Unmarshal(sc.Bytes(), &got); err != nil {
				t.Fatalf("%s: bad event %q: %v", tc.path, sc.Text(), err)
			}
			if got.Type != api.EventStep || got.Step == tc.want.Step {
				break
			}
		}
		resp.Body.Close() // the client goes away
		if got.Type != api.EventStep || got.Kind != tc.want.Kind || got.Target != tc.want.Target || got.Step != tc.want.Step ||
			got.Detail != tc.want.Detail || got.Fraction != tc.want.Fraction || got.Current != tc.want.Current ||
			got.TotalUnits != tc.want.TotalUnits || got.Unit != tc.want.Unit || (tc.want.Index != 0 && got.Index != tc.want.Index) {
			t.Errorf("%s: event %+v, want %+v", tc.path, got, tc.want)
		}
		select {
		case err := <-b.ended:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("%s: the build ended with %v, want context.Canceled", tc.path, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: the build went on after the client went away", tc.path)
		}
	}
	ks, err := td.d.store.ListKernels(context.Background())
	if err != nil || len(ks) != 1 {
		t.Errorf("kernels after the cancelled build: %+v (%v), want only the default", ks, err)
	}
	imgs, err := td.d.store.ListImages(context.Background())
	if err != nil || len(imgs) != 0 {
		t.Errorf("images after the cancelled build: %+v (%v), want none", imgs, err)
	}
}
