package kernels

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"banger/internal/errdefs"
	"banger/internal/kernelbuild"
)

func TestFetchRecordsDistroKernel(t *testing.T) {
	f := newFixture(t)
	f.svc.cfg.DistroDir = "/cache/kernel-distro"
	ctx := context.Background()
	var events []Progress
	k, err := f.svc.Fetch(ctx, "op-1", FetchRequest{Package: "linux-image-cloud-amd64"}, func(e Progress) { events = append(events, e) })
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	vm := fakeVmlinux("6.1.0-57-cloud-amd64")
	dir := filepath.Join(f.dir, "0000000000000001")
	want := Kernel{
		ID: "0000000000000001", Name: "default", Source: SourceDistro, Version: "6.1.0-57-cloud-amd64",
		Vmlinux: filepath.Join(dir, "vmlinux"), Initrd: filepath.Join(dir, "initrd"),
		SHA256: sha(vm), Size: int64(len(vm)),
		Origin:    "distro package linux-image-6.1.0-57-cloud-amd64 6.1.192-3 (downloaded)",
		Discovery: DiscoveryACPI,
	}
	if diff := cmp.Diff(want, k, cmpopts.IgnoreFields(Kernel{}, "CreatedAt")); diff != "" {
		t.Errorf("Fetch (-want +got):\n%s", diff)
	}
	if got := readFile(t, k.Initrd); got != "initramfs" {
		t.Errorf("stored initrd = %q", got)
	}
	if diff := cmp.Diff(kernelbuild.DistroOptions{Package: "linux-image-cloud-amd64", WorkDir: "/cache/kernel-distro"}, f.host.distroOpts); diff != "" {
		t.Errorf("distro options (-want +got):\n%s", diff)
	}
	got, err := f.svc.Get(ctx, "default")
	if err != nil || got.Origin != want.Origin || got.Discovery != DiscoveryACPI {
		t.Errorf("Get(default) = %+v, %v", got, err)
	}
	if hz, err := f.store.KernelHZ(ctx, k.Vmlinux); err != nil || hz != 250 {
		t.Errorf("recorded HZ = %d, %v; want the package config's 250", hz, err)
	}
	last := events[len(events)-1]
	if last.Kind != OpFetch || last.Step != "record" || last.Fraction != 1 || last.Index != last.Total || last.Total != len(kernelbuild.DistroSteps)+1 {
		t.Errorf("last event = %+v", last)
	}
	for _, e := range events {
		if e.Index < 1 || e.Index > e.Total {
			t.Errorf("event with step %q has index %d of %d", e.Step, e.Index, e.Total)
		}
	}

	// The name is taken: refused before any work.
	if _, err := f.svc.Fetch(ctx, "op-2", FetchRequest{}, nil); !errdefs.Is(err, errdefs.AlreadyExists) {
		t.Errorf("second Fetch = %v, want AlreadyExists", err)
	}
	// Another name reuses the cache and gets its own copy.
	k2, err := f.svc.Fetch(ctx, "op-3", FetchRequest{Name: "cloud"}, nil)
	if err != nil || f.host.fetches != 1 || filepath.Dir(k2.Vmlinux) == filepath.Dir(k.Vmlinux) {
		t.Errorf("Fetch(cloud) = %+v, %v (fetches %d): want a copy of the cached kernel", k2, err, f.host.fetches)
	}
}

func TestFetchFailures(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if _, err := f.svc.Fetch(ctx, "op", FetchRequest{Name: "Bad Name"}, nil); !errdefs.Is(err, errdefs.InvalidArgument) {
		t.Errorf("bad name = %v", err)
	}
	f.host.distroErr = errdefs.FailedPreconditionf("apt does not know package linux-image-cloud-amd64")
	_, err := f.svc.Fetch(ctx, "op", FetchRequest{}, nil)
	if !errdefs.Is(err, errdefs.FailedPrecondition) || !strings.Contains(err.Error(), "apt does not know") {
		t.Errorf("Fetch = %v, want the host's error", err)
	}
	if list, _ := f.svc.List(ctx); len(list) != 0 {
		t.Errorf("kernels recorded after failures: %+v", list)
	}
	if dirs := f.storeDirs(t); len(dirs) != 0 {
		t.Errorf("kernel store holds %v after failures", dirs)
	}
}
