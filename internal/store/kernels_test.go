package store

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"banger/internal/errdefs"
)

func testKernel(n int) Kernel {
	return Kernel{
		ID: strings.Repeat("0", 15) + string(rune('a'+n)), Name: "k" + string(rune('a'+n)),
		Vmlinux: "/k/vmlinux" + string(rune('a'+n)), Version: "6.1.0-banger", Source: "built",
		SHA256: strings.Repeat("ab", 32), Size: 1234, CreatedAt: time.Unix(100+int64(n), 0).UTC(),
		Discovery: "cmdline",
	}
}

func TestKernelOriginAndDiscovery(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	k := testKernel(0)
	k.Source, k.Origin, k.Discovery, k.HZ = "distro", "distro package linux-image-6.1.0-57-cloud-amd64 6.1.192-3 (downloaded)", "acpi", 250
	if err := s.CreateKernel(ctx, k); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetKernel(ctx, k.Name)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(k, got); diff != "" {
		t.Errorf("GetKernel (-want +got):\n%s", diff)
	}
	plain := testKernel(1)
	plain.Discovery = ""
	if err := s.CreateKernel(ctx, plain); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{k.Vmlinux: "acpi", plain.Vmlinux: "cmdline", "/images/own/vmlinux": "cmdline"} {
		if d, err := s.KernelDiscovery(ctx, path); err != nil || d != want {
			t.Errorf("KernelDiscovery(%s) = %q, %v; want %q", path, d, err, want)
		}
	}
	for path, want := range map[string]string{k.Vmlinux: "distro", plain.Vmlinux: plain.Source, "/images/own/vmlinux": ""} {
		if src, err := s.KernelSource(ctx, path); err != nil || src != want {
			t.Errorf("KernelSource(%s) = %q, %v; want %q", path, src, err, want)
		}
	}
	for path, want := range map[string]int{k.Vmlinux: 250, plain.Vmlinux: 0, "/images/own/vmlinux": 0} {
		if hz, err := s.KernelHZ(ctx, path); err != nil || hz != want {
			t.Errorf("KernelHZ(%s) = %d, %v; want %d", path, hz, err, want)
		}
	}
	neg := testKernel(3)
	neg.HZ = -1
	if err := s.CreateKernel(ctx, neg); !errdefs.Is(err, errdefs.InvalidArgument) || !strings.Contains(err.Error(), "hz") {
		t.Errorf("negative hz = %v", err)
	}
	bad := testKernel(2)
	bad.Discovery = "dtb"
	if err := s.CreateKernel(ctx, bad); !errdefs.Is(err, errdefs.InvalidArgument) || !strings.Contains(err.Error(), "discovery") {
		t.Errorf("bad discovery = %v", err)
	}
}

func TestKernelCRUD(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	k := testKernel(0)
	if err := s.CreateKernel(ctx, k); err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{k.ID, k.Name} {
		got, err := s.GetKernel(ctx, ref)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(k, got); diff != "" {
			t.Errorf("GetKernel(%s) (-want +got):\n%s", ref, diff)
		}
	}
	if err := s.CreateKernel(ctx, k); !errdefs.Is(err, errdefs.AlreadyExists) {
		t.Errorf("duplicate = %v", err)
	}
	dup := testKernel(1)
	dup.Name = k.Name
	if err := s.CreateKernel(ctx, dup); !errdefs.Is(err, errdefs.AlreadyExists) || !strings.Contains(err.Error(), "kernel rm") {
		t.Errorf("duplicate name = %v", err)
	}
	bad := testKernel(2)
	bad.Vmlinux, bad.Source, bad.SHA256 = "rel", "stolen", "x"
	if err := s.CreateKernel(ctx, bad); !errdefs.Is(err, errdefs.InvalidArgument) {
		t.Errorf("bad record = %v", err)
	}
	if err := s.CreateKernel(ctx, testKernel(3)); err != nil {
		t.Fatal(err)
	}
	list, err := s.ListKernels(ctx)
	if err != nil || len(list) != 2 || list[0].Name != k.Name {
		t.Fatalf("ListKernels = %+v, %v", list, err)
	}

	// A kernel an image boots with cannot go.
	img := Image{ID: strings.Repeat("1", 16), Name: "img", RootFS: "/r", Kernel: k.Vmlinux}
	if err := s.CreateImage(ctx, img); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteKernel(ctx, k.ID); !errdefs.Is(err, errdefs.FailedPrecondition) || !strings.Contains(err.Error(), "img") {
		t.Errorf("delete used kernel = %v", err)
	}
	if err := s.DeleteImage(ctx, img.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteKernel(ctx, k.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetKernel(ctx, k.Name); !errdefs.Is(err, errdefs.NotFound) {
		t.Errorf("after delete = %v", err)
	}
	if err := s.DeleteKernel(ctx, k.ID); !errdefs.Is(err, errdefs.NotFound) {
		t.Errorf("second delete = %v", err)
	}
}
