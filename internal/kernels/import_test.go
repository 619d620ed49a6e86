package kernels

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"

	"banger/internal/errdefs"
)

func TestImport(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	vm := fakeVmlinux("6.1.102")
	vmlinux := f.file(t, "vmlinux-6.1.102", vm)
	bz := f.file(t, "bzImage", bzMagic+fakeVmlinux("5.10.0-9-amd64"))
	initrd := f.file(t, "initrd.img", "cpio archive")

	k, err := f.svc.Import(ctx, ImportRequest{Path: vmlinux})
	if err != nil {
		t.Fatalf("Import vmlinux: %v", err)
	}
	if k.Name != "vmlinux-6-1-102" || k.Source != "imported" || k.Version != "6.1.102" || k.BzImage != "" || k.SHA256 != sha(vm) ||
		k.Origin != "imported from "+vmlinux || k.Discovery != DiscoveryCmdline {
		t.Errorf("imported vmlinux = %+v", k)
	}

	kb, err := f.svc.Import(ctx, ImportRequest{Name: "debian", Path: bz, Initrd: initrd})
	if err != nil {
		t.Fatalf("Import bzImage: %v", err)
	}
	if kb.Version != "5.10.0-9-amd64" || readFile(t, kb.Vmlinux) != fakeVmlinux("5.10.0-9-amd64") {
		t.Errorf("bzImage not unpacked: %+v", kb)
	}
	if readFile(t, kb.BzImage) != readFile(t, bz) || readFile(t, kb.Initrd) != "cpio archive" {
		t.Errorf("bzImage or initrd not copied: %+v", kb)
	}

	// The same file under another name is a separate kernel with its own
	// files; the same name again is refused.
	again, err := f.svc.Import(ctx, ImportRequest{Name: "copy", Path: vmlinux})
	if err != nil {
		t.Fatalf("Import under another name: %v", err)
	}
	if again.ID == k.ID || again.Vmlinux == k.Vmlinux || again.SHA256 != k.SHA256 {
		t.Errorf("second import %+v shares the first's identity %+v", again, k)
	}
	_, err = f.svc.Import(ctx, ImportRequest{Name: "copy", Path: bz})
	if !errdefs.Is(err, errdefs.AlreadyExists) {
		t.Errorf("Import with a taken name = %v, want AlreadyExists", err)
	}

	list, err := f.svc.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, k := range list {
		names = append(names, k.Name)
	}
	if diff := cmp.Diff([]string{"vmlinux-6-1-102", "debian", "copy"}, names); diff != "" {
		t.Errorf("List names (-want +got):\n%s", diff)
	}
	if got := len(f.storeDirs(t)); got != 3 {
		t.Errorf("kernel store has %d directories, want 3", got)
	}
}

func TestImportBadInput(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	good := f.file(t, "vmlinux", fakeVmlinux("6.1.1"))
	notKernel := f.file(t, "notes.txt", "hello")
	fifo := filepath.Join(f.files, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		req  ImportRequest
		want []string
	}{
		{"relative path", ImportRequest{Name: "a", Path: "vmlinux"}, []string{"must be an absolute path"}},
		{"missing file", ImportRequest{Name: "a", Path: "/nonexistent/vmlinux"}, []string{"does not exist"}},
		{"directory", ImportRequest{Name: "a", Path: f.files}, []string{"not a regular file"}},
		{"fifo", ImportRequest{Name: "a", Path: fifo}, []string{"kernel " + fifo + " is a named pipe (FIFO), not a regular file"}},
		{"dev-zero initrd", ImportRequest{Name: "a", Path: good, Initrd: "/dev/zero"}, []string{"initrd /dev/zero is a character device"}},
		{"not a kernel", ImportRequest{Name: "a", Path: notKernel}, []string{"not a kernel"}},
		{"everything wrong at once", ImportRequest{Name: "Bad!", Path: notKernel, Initrd: "/nonexistent/initrd"},
			[]string{"invalid kernel name", "not a kernel", "initrd /nonexistent/initrd does not exist"}},
		{"bad initrd", ImportRequest{Name: "a", Path: good, Initrd: "initrd"}, []string{"initrd \"initrd\": must be an absolute path"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.svc.Import(ctx, tt.req)
			if !errdefs.Is(err, errdefs.InvalidArgument) {
				t.Fatalf("Import = %v, want InvalidArgument", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
	if list, _ := f.svc.List(ctx); len(list) != 0 {
		t.Errorf("kernels recorded from bad input: %+v", list)
	}
}

func TestImportUnpackFailureLeavesNothing(t *testing.T) {
	f := newFixture(t)
	f.host.unpackErr = errdefs.InvalidArgumentf("the payload is lz4-compressed, which banger cannot unpack")
	bz := f.file(t, "bzImage", bzMagic+"whatever")
	_, err := f.svc.Import(context.Background(), ImportRequest{Name: "lz4", Path: bz})
	if !errdefs.Is(err, errdefs.InvalidArgument) || !strings.Contains(err.Error(), "lz4") {
		t.Errorf("Import = %v, want the unpack error", err)
	}
	if dirs := f.storeDirs(t); len(dirs) != 0 {
		t.Errorf("kernel store holds %v after a failed import", dirs)
	}
	if _, err := os.Stat(filepath.Join(f.files, "bzImage")); err != nil {
		t.Errorf("the source file is gone: %v", err)
	}
}

func TestNameFromPath(t *testing.T) {
	for in, want := range map[string]string{
		"/boot/vmlinuz-6.1.0-13-amd64":  "vmlinuz-6-1-0-13-amd64",
		"/x/VMLINUX":                    "vmlinux",
		"/x/--":                         "imported",
		"/x/" + strings.Repeat("a", 70): strings.Repeat("a", 63),
	} {
		if got := nameFromPath(in); got != want {
			t.Errorf("nameFromPath(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestCopyFileStopsWhenCancelled: a copy of a user's file stops when its
// context is cancelled, instead of running to the end.
func TestCopyFileStopsWhenCancelled(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "vmlinux")
	if err := os.WriteFile(src, make([]byte, 4<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := copyFile(ctx, src, filepath.Join(dir, "copy"))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("copyFile = %v, want context.Canceled", err)
	}
}
