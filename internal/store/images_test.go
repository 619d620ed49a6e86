package store

import (
	"context"
	"strings"
	"testing"
	"time"

	"banger/internal/errdefs"

	"github.com/google/go-cmp/cmp"
)

func TestImageCRUD(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)

	a := testImage(2)
	a.Initrd = "/var/lib/banger/kernels/k1/initrd.img"
	a.Identity = ImageIdentityDisk
	b := testImage(1)
	b.CreatedAt = time.Time{} // defaults to now (t0), before a
	for _, img := range []Image{a, b} {
		if err := s.CreateImage(ctx, img); err != nil {
			t.Fatalf("CreateImage(%s): %v", img.Name, err)
		}
	}
	b.CreatedAt = t0

	for _, ref := range []string{a.ID, a.Name} {
		got, err := s.GetImage(ctx, ref)
		if err != nil {
			t.Fatalf("GetImage(%q): %v", ref, err)
		}
		if diff := cmp.Diff(a, got); diff != "" {
			t.Errorf("GetImage(%q) (-want +got):\n%s", ref, diff)
		}
	}

	got, err := s.ListImages(ctx)
	if err != nil {
		t.Fatalf("ListImages: %v", err)
	}
	if diff := cmp.Diff([]Image{b, a}, got); diff != "" {
		t.Errorf("ListImages (-want +got):\n%s", diff)
	}

	if err := s.DeleteImage(ctx, a.ID); err != nil {
		t.Fatalf("DeleteImage: %v", err)
	}
	got, err = s.ListImages(ctx)
	if err != nil {
		t.Fatalf("ListImages: %v", err)
	}
	if diff := cmp.Diff([]Image{b}, got); diff != "" {
		t.Errorf("ListImages after delete (-want +got):\n%s", diff)
	}
}

// TestPulledImage: a pulled image keeps its source, digest, run config
// and layers, needs no kernel, and a pulled record missing its source or
// carrying a kernel is refused.
func TestPulledImage(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	img := testImage(1)
	img.Kernel = ""
	img.State = ImagePulled
	img.Source = "index.docker.io/library/debian:12"
	img.Digest = "sha256:" + strings.Repeat("d", 64)
	img.RunConfig = `{"cmd":["bash"]}`
	img.Layers = []string{"sha256:" + strings.Repeat("1", 64), "sha256:" + strings.Repeat("2", 64)}
	if err := s.CreateImage(ctx, img); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetImage(ctx, img.Name)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(img, got); diff != "" {
		t.Errorf("GetImage (-want +got):\n%s", diff)
	}
	for name, bad := range map[string]func(*Image){
		"no source":    func(i *Image) { i.Source = "" },
		"a kernel":     func(i *Image) { i.Kernel = "/k/vmlinux" },
		"bad state":    func(i *Image) { i.State = "half" },
		"bad layers":   func(i *Image) { i.Layers = []string{"md5:x"} },
		"bad identity": func(i *Image) { i.Identity = "cloud-init" },
	} {
		b := img
		b.ID, b.Name = hexID('b', 9), "other"
		bad(&b)
		if err := s.CreateImage(ctx, b); !errdefs.Is(err, errdefs.InvalidArgument) {
			t.Errorf("%s: CreateImage = %v, want invalid_argument", name, err)
		}
	}
}

func TestImageErrors(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	img := mustCreateImage(t, s, 1)

	sameName := testImage(2)
	sameName.Name = img.Name
	sameID := testImage(2)
	sameID.ID = img.ID
	relative := testImage(2)
	relative.RootFS, relative.Kernel, relative.Initrd = "rootfs.ext4", "", "initrd"
	badID := testImage(2)
	badID.ID = "ABCDEF0123456789"

	tests := []struct {
		name string
		op   func() error
		want errdefs.Kind
	}{
		{"create duplicate name", func() error { return s.CreateImage(ctx, sameName) }, errdefs.AlreadyExists},
		{"create duplicate id", func() error { return s.CreateImage(ctx, sameID) }, errdefs.AlreadyExists},
		{"create with relative paths", func() error { return s.CreateImage(ctx, relative) }, errdefs.InvalidArgument},
		{"create with bad id", func() error { return s.CreateImage(ctx, badID) }, errdefs.InvalidArgument},
		{"get missing", func() error { _, err := s.GetImage(ctx, "nope"); return err }, errdefs.NotFound},
		{"delete missing", func() error { return s.DeleteImage(ctx, hexID('f', 1)) }, errdefs.NotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.op()
			if got := errdefs.KindOf(err); got != tt.want {
				t.Errorf("err = %v (kind %q), want kind %q", err, got, tt.want)
			}
		})
	}

	_, err := s.GetImage(ctx, "nope")
	if want := `no image named "nope"; "banger image list" shows the images`; err == nil || err.Error() != want {
		t.Errorf("GetImage(nope) err = %v, want %s", err, want)
	}
}

func TestDeleteImageInUse(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		vms  int
		want string
	}{
		{"one VM", 1, `image "image-1" is used by VM vm-1: delete it first with "banger vm delete"`},
		{"five VMs", 5, `image "image-1" is used by VMs vm-1, vm-2, vm-3, vm-4, vm-5: delete them first with "banger vm delete"`},
		{"seven VMs", 7, `image "image-1" is used by VMs vm-1, vm-2, vm-3, vm-4, vm-5 and 2 more: delete them first with "banger vm delete"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			img := mustCreateImage(t, s, 1)
			unrelated := mustCreateImage(t, s, 2)
			mustCreateVM(t, s, 100, unrelated.ID)
			for i := 1; i <= tt.vms; i++ {
				mustCreateVM(t, s, i, img.ID)
			}
			err := s.DeleteImage(ctx, img.ID)
			if !errdefs.Is(err, errdefs.FailedPrecondition) || err.Error() != tt.want {
				t.Fatalf("DeleteImage err = %v (kind %q)\nwant FailedPrecondition %s", err, errdefs.KindOf(err), tt.want)
			}
			if _, err := s.GetImage(ctx, img.ID); err != nil {
				t.Errorf("image gone after refused delete: %v", err)
			}
			// Once its VMs are gone the image can be deleted.
			for i := 1; i <= tt.vms; i++ {
				if err := s.DeleteVM(ctx, hexID('b', i)); err != nil {
					t.Fatalf("DeleteVM: %v", err)
				}
			}
			if err := s.DeleteImage(ctx, img.ID); err != nil {
				t.Errorf("DeleteImage after deleting its VMs: %v", err)
			}
		})
	}
}
