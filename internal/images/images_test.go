package images

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"banger/internal/errdefs"
	"banger/internal/store"
	"banger/internal/userfile"
)

var ignoreCreated = cmpopts.IgnoreFields(Image{}, "CreatedAt")

func TestRegisterRecordsImage(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	rootfs := f.file(t, "img/rootfs.ext4", 4096)
	kernel := f.file(t, "img/vmlinux", 10)
	initrd := f.file(t, "img/initrd.img", 5)

	before := time.Now()
	got, err := f.svc.Register(ctx, RegisterRequest{Name: "debian-12", RootFS: rootfs, Kernel: kernel, Initrd: initrd})
	if err != nil {
		t.Fatalf("Register: %v", err)
	}
	want := Image{ID: "0000000000000001", Name: "debian-12", RootFS: rootfs, RootFSSize: 4096, Kernel: kernel, Initrd: initrd, State: StateReady, Identity: store.ImageIdentityDebugfs}
	if diff := cmp.Diff(want, got, ignoreCreated); diff != "" {
		t.Errorf("Register (-want +got):\n%s", diff)
	}
	if got.CreatedAt.Before(before) || got.CreatedAt.After(time.Now()) {
		t.Errorf("CreatedAt = %v, want between %v and now", got.CreatedAt, before)
	}
	if diff := cmp.Diff(map[string]string{rootfs: "rootfs", kernel: "kernel"}, f.inspect.checked); diff != "" {
		t.Errorf("inspected files (-want +got):\n%s", diff)
	}

	// The stored record reads back the same, by name and by id.
	for _, ref := range []string{"debian-12", "0000000000000001"} {
		img, err := f.svc.Get(ctx, ref)
		if err != nil {
			t.Fatalf("Get(%q): %v", ref, err)
		}
		if diff := cmp.Diff(got, img); diff != "" {
			t.Errorf("Get(%q) (-registered +got):\n%s", ref, diff)
		}
	}
}

// TestRegisterIdentity: a root filesystem with banger's identity marker
// is recorded as reading the identity disk; others get debugfs.
func TestRegisterIdentity(t *testing.T) {
	f := newFixture(t)
	kernel := f.file(t, "vmlinux", 1)
	marked := filepath.Join(f.dir, "marked.ext4")
	if err := os.WriteFile(marked, []byte("identity-disk"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := f.svc.Register(context.Background(), RegisterRequest{Name: "marked", RootFS: marked, Kernel: kernel})
	if err != nil || got.Identity != store.ImageIdentityDisk {
		t.Errorf("Register(marked) = %+v, %v; want identity %q", got, err, store.ImageIdentityDisk)
	}
}

func TestRegisterWithoutInitrd(t *testing.T) {
	f := newFixture(t)
	rootfs, kernel := f.file(t, "rootfs.ext4", 1), f.file(t, "vmlinux", 1)
	got, err := f.svc.Register(context.Background(), RegisterRequest{Name: "a", RootFS: rootfs, Kernel: kernel})
	if err != nil {
		t.Fatalf("Register: %v", err)
	}
	if got.Initrd != "" {
		t.Errorf("Initrd = %q, want empty", got.Initrd)
	}
}

func TestRegisterReportsEveryProblem(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	missing := filepath.Join(f.dir, "nope.ext4")
	dir := f.subdir(t, "initrd.d")

	_, err := f.svc.Register(ctx, RegisterRequest{
		Name:   "-bad",
		RootFS: missing,
		Kernel: "boot/vmlinux",
		Initrd: dir,
	})
	if err == nil {
		t.Fatal("Register succeeded, want an error")
	}
	if got, want := errdefs.KindOf(err), errdefs.InvalidArgument; got != want {
		t.Errorf("KindOf = %q, want %q", got, want)
	}
	lines := strings.Split(err.Error(), "\n")
	wantPrefixes := []string{
		`invalid image name "-bad": it starts with '-'`,
		"rootfs " + missing + " does not exist: check the path",
		`kernel "boot/vmlinux": must be an absolute path`,
		"initrd " + dir + " is a directory, not a regular file",
	}
	if len(lines) != len(wantPrefixes) {
		t.Fatalf("error has %d lines, want %d:\n%v", len(lines), len(wantPrefixes), err)
	}
	for i, want := range wantPrefixes {
		if !strings.HasPrefix(lines[i], want) {
			t.Errorf("line %d = %q, want prefix %q", i+1, lines[i], want)
		}
	}
	// Nothing is inspected that does not exist, and nothing is recorded.
	if len(f.inspect.checked) != 0 {
		t.Errorf("inspected %v, want nothing", f.inspect.checked)
	}
	imgs, err := f.svc.List(ctx)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(imgs) != 0 {
		t.Errorf("List = %v, want no images", imgs)
	}
	if f.ids != 0 {
		t.Errorf("made %d ids for a refused image, want 0", f.ids)
	}
}

func TestRegisterInvalid(t *testing.T) {
	errNotExt4 := errors.New("no ext4 superblock: build the image with mkfs.ext4")
	errNotKernel := errors.New("not a vmlinux ELF or bzImage")

	tests := []struct {
		name     string
		req      func(f *fixture) RegisterRequest
		bad      func(f *fixture) map[string]error
		wantMsg  string
		wantIs   error // a cause that must survive, if any
		wantKind errdefs.Kind
	}{
		{
			name: "empty paths",
			req: func(f *fixture) RegisterRequest {
				return RegisterRequest{Name: "a"}
			},
			wantMsg: "rootfs: a path is required\nkernel: a path is required",
		},
		{
			name: "relative initrd",
			req: func(f *fixture) RegisterRequest {
				return RegisterRequest{Name: "a", RootFS: f.file(t, "r", 1), Kernel: f.file(t, "k", 1), Initrd: "initrd.img"}
			},
			wantMsg: `initrd "initrd.img": must be an absolute path`,
		},
		{
			name: "missing initrd",
			req: func(f *fixture) RegisterRequest {
				return RegisterRequest{Name: "a", RootFS: f.file(t, "r", 1), Kernel: f.file(t, "k", 1), Initrd: "/nonexistent/initrd.img"}
			},
			wantMsg: "initrd /nonexistent/initrd.img does not exist: check the path",
		},
		{
			name: "rootfs is a directory",
			req: func(f *fixture) RegisterRequest {
				return RegisterRequest{Name: "a", RootFS: f.subdir(t, "rootdir"), Kernel: f.file(t, "k", 1)}
			},
			wantMsg: "rootfs DIR/rootdir is a directory, not a regular file",
		},
		{
			// A FIFO once hung the request in its open: refused at once.
			name: "rootfs and kernel are FIFOs",
			req: func(f *fixture) RegisterRequest {
				return RegisterRequest{Name: "a", RootFS: f.fifo(t, "root.ext4"), Kernel: f.fifo(t, "vmlinux")}
			},
			wantMsg: "rootfs DIR/root.ext4 is a named pipe (FIFO), not a regular file\nkernel DIR/vmlinux is a named pipe (FIFO), not a regular file",
			wantIs:  userfile.ErrNotRegular,
		},
		{
			name: "initrd is /dev/zero",
			req: func(f *fixture) RegisterRequest {
				return RegisterRequest{Name: "a", RootFS: f.file(t, "r", 1), Kernel: f.file(t, "k", 1), Initrd: "/dev/zero"}
			},
			wantMsg: "initrd /dev/zero is a character device, not a regular file",
			wantIs:  userfile.ErrNotRegular,
		},
		{
			name: "inspector rejects rootfs and kernel",
			req: func(f *fixture) RegisterRequest {
				return RegisterRequest{Name: "a", RootFS: f.file(t, "r", 1), Kernel: f.file(t, "k", 1)}
			},
			bad: func(f *fixture) map[string]error {
				return map[string]error{filepath.Join(f.dir, "r"): errNotExt4, filepath.Join(f.dir, "k"): errNotKernel}
			},
			wantMsg: "rootfs: no ext4 superblock: build the image with mkfs.ext4\nkernel: not a vmlinux ELF or bzImage",
			wantIs:  errNotExt4,
		},
		{
			name: "uppercase name",
			req: func(f *fixture) RegisterRequest {
				return RegisterRequest{Name: "Deb", RootFS: f.file(t, "r", 1), Kernel: f.file(t, "k", 1)}
			},
			wantMsg: `invalid image name "Deb": uppercase 'D' at position 1 is not allowed (try 'd'); use 1-63 lowercase letters, digits and '-', not starting or ending with '-'`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			req := tt.req(f)
			if tt.bad != nil {
				f.inspect.bad = tt.bad(f)
			}
			_, err := f.svc.Register(context.Background(), req)
			if err == nil {
				t.Fatal("Register succeeded, want an error")
			}
			if got, want := err.Error(), strings.ReplaceAll(tt.wantMsg, "DIR", f.dir); got != want {
				t.Errorf("error =\n%s\nwant\n%s", got, want)
			}
			if got, want := errdefs.KindOf(err), errdefs.InvalidArgument; got != want {
				t.Errorf("KindOf = %q, want %q", got, want)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("errors.Is(err, %v) = false, want true", tt.wantIs)
			}
		})
	}
}

func TestRegisterDuplicateName(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	req := RegisterRequest{Name: "base", RootFS: f.file(t, "r", 1), Kernel: f.file(t, "k", 1)}
	if _, err := f.svc.Register(ctx, req); err != nil {
		t.Fatalf("first Register: %v", err)
	}
	_, err := f.svc.Register(ctx, req)
	if got, want := errdefs.KindOf(err), errdefs.AlreadyExists; got != want {
		t.Fatalf("second Register: KindOf(%v) = %q, want %q", err, got, want)
	}
	if !strings.Contains(err.Error(), `an image named "base" already exists`) {
		t.Errorf("error = %q, want it to name the image", err)
	}
	imgs, err := f.svc.List(ctx)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(imgs) != 1 {
		t.Errorf("List has %d images, want 1", len(imgs))
	}
}
