package disk

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"banger/internal/errdefs"
)

// newTestWorkDisks returns a WorkDisks with a cache in a temp dir, or
// skips when e2fsprogs is missing.
func newTestWorkDisks(t *testing.T) *WorkDisks {
	t.Helper()
	needTool(t, "mkfs.ext4")
	needTool(t, "tune2fs")
	return NewWorkDisks(filepath.Join(t.TempDir(), "cache"))
}

func TestWorkDisksConcurrentCreates(t *testing.T) {
	w := newTestWorkDisks(t)
	needTool(t, "e2fsck")
	const n, size = 50, 64 * mib
	dir := t.TempDir()
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			errs[i] = w.Create(context.Background(), filepath.Join(dir, fmt.Sprintf("work-%d.ext4", i)), size)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("create %d: %v", i, err)
		}
	}
	if got, want := w.built.Load(), int64(1); got != want {
		t.Errorf("templates made = %d, want %d", got, want)
	}
	tmpl, err := readSuperblock(w.templatePath(size))
	if err != nil {
		t.Fatalf("template: %v", err)
	}
	uuids := map[[16]byte]string{tmpl.uuid: "the template"}
	for i := range n {
		p := filepath.Join(dir, fmt.Sprintf("work-%d.ext4", i))
		sb, err := readSuperblock(p)
		if err != nil {
			t.Fatalf("IsExt4(%s) = %v", p, err)
		}
		if other, dup := uuids[sb.uuid]; dup {
			t.Errorf("%s has the same UUID %x as %s", p, sb.uuid, other)
		}
		uuids[sb.uuid] = p
		if got, want := sb.label, "work"; got != want {
			t.Errorf("%s label = %q, want %q", p, got, want)
		}
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Size() != size || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: size %d mode %v, want %d and 0600", p, st.Size(), st.Mode().Perm(), size)
		}
		if got, max := allocated(t, p), int64(8*mib); got > max {
			t.Errorf("%s has %d bytes allocated, want at most %d", p, got, max)
		}
		fsck(t, p)
	}
	if left := tempFiles(t, dir); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

func TestWorkDisksFilesystem(t *testing.T) {
	w := newTestWorkDisks(t)
	needTool(t, "debugfs")
	needTool(t, "dumpe2fs")
	const size = 1 << 30
	dst := filepath.Join(t.TempDir(), "work.ext4")
	if err := w.Create(context.Background(), dst, size); err != nil {
		t.Fatal(err)
	}
	sb, err := readSuperblock(dst)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := sb.size(), int64(size); got != want {
		t.Errorf("filesystem size = %d, want %d", got, want)
	}
	if sb.compat&compatOrphanFile != 0 {
		t.Error("orphan_file is enabled, want it off for older guest kernels")
	}
	// The root directory belongs to root, so the disk can be /root.
	stat := runTool(t, "debugfs", "-R", "stat /", dst)
	if !regexp.MustCompile(`User:\s+0\s+Group:\s+0\b`).MatchString(stat) {
		t.Errorf("root directory is not owned by 0:0:\n%s", stat)
	}
	// Every inode table is marked zeroed, so the guest does no lazy init
	// that would fill the sparse file.
	out := runTool(t, "dumpe2fs", dst)
	groups := regexp.MustCompile(`(?m)^Group \d+:`).FindAllString(out, -1)
	zeroed := strings.Count(out, "ITABLE_ZEROED")
	if len(groups) == 0 || zeroed != len(groups) {
		t.Errorf("%d of %d block groups have ITABLE_ZEROED, want all", zeroed, len(groups))
	}
	if !strings.Contains(out, "has_journal") {
		t.Error("work disk has no journal")
	}
}

func TestWorkDisksRejects(t *testing.T) {
	w := newTestWorkDisks(t)
	dir := t.TempDir()
	existing := writeFile(t, dir, "existing", []byte("user data"))
	tests := []struct {
		name string
		dst  string
		size int64
		kind errdefs.Kind
		want string
	}{
		{"too small", filepath.Join(dir, "a"), 8 * mib, errdefs.InvalidArgument, "below the minimum of 16 MiB"},
		{"zero", filepath.Join(dir, "a"), 0, errdefs.InvalidArgument, "below the minimum"},
		{"negative", filepath.Join(dir, "a"), -mib, errdefs.InvalidArgument, "below the minimum"},
		{"not MiB", filepath.Join(dir, "a"), 32*mib + 4096, errdefs.InvalidArgument, "not a whole number of MiB"},
		{"exists", existing, 32 * mib, errdefs.AlreadyExists, "already exists"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := w.Create(context.Background(), tt.dst, tt.size)
			if errdefs.KindOf(err) != tt.kind || !strings.Contains(fmt.Sprint(err), tt.want) {
				t.Errorf("Create = %v (%s), want %s saying %q", err, errdefs.KindOf(err), tt.kind, tt.want)
			}
		})
	}
	if got, _ := os.ReadFile(existing); string(got) != "user data" {
		t.Errorf("existing disk was changed to %q", got)
	}
	if got := w.built.Load(); got != 0 {
		t.Errorf("templates made for rejected requests = %d, want 0", got)
	}
}

// TestWorkDisksMissingTool: mkfs.ext4 is needed for the template; tune2fs
// is not (the copies' UUIDs are written directly, see uuid_test.go).
func TestWorkDisksMissingTool(t *testing.T) {
	for _, tool := range []string{"mkfs.ext4"} {
		t.Run(tool, func(t *testing.T) {
			w := newTestWorkDisks(t)
			empty := t.TempDir()
			w.run.find = func(name string) (string, error) {
				if name == tool {
					return findIn(name, []string{empty})
				}
				return findTool(name)
			}
			dst := filepath.Join(t.TempDir(), "work")
			err := w.Create(context.Background(), dst, 32*mib)
			if got, want := errdefs.KindOf(err), errdefs.FailedPrecondition; got != want {
				t.Errorf("Create kind = %q, want %q (%v)", got, want, err)
			}
			want := tool + " not found: install e2fsprogs (apt-get install e2fsprogs)"
			if !strings.Contains(fmt.Sprint(err), want) {
				t.Errorf("Create = %v, want it to say %q", err, want)
			}
			if _, err := os.Stat(dst); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("dst exists after a failed create: %v", err)
			}
			if left := tempFiles(t, filepath.Dir(dst)); len(left) != 0 {
				t.Errorf("temporary files left: %v", left)
			}
		})
	}
}

func TestWorkDisksCancelled(t *testing.T) {
	w := newTestWorkDisks(t)
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	dst := filepath.Join(dir, "work")
	if err := w.Create(ctx, dst, 32*mib); !errors.Is(err, context.Canceled) {
		t.Fatalf("Create(cancelled) = %v, want context.Canceled", err)
	}
	if _, err := os.Stat(dst); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("dst exists after a cancelled create: %v", err)
	}
	if left := append(tempFiles(t, dir), tempFiles(t, w.cacheDir)...); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
	if err := w.Create(context.Background(), dst, 32*mib); err != nil {
		t.Fatalf("Create after a cancelled one: %v", err)
	}
}
