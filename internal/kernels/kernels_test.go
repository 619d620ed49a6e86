package kernels

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"banger/internal/errdefs"
	"banger/internal/kernelbuild"
	"banger/internal/store"
)

func sha(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestBuildRecordsDefault(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	var events []Progress
	k, err := f.svc.Build(ctx, "op-1", BuildRequest{Source: "/src/linux.tar.xz", Jobs: 3}, func(e Progress) { events = append(events, e) })
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	vm := fakeVmlinux("6.1.99-banger")
	dir := filepath.Join(f.dir, "0000000000000001")
	want := Kernel{
		ID: "0000000000000001", Name: "default", Source: "built", Version: "6.1.99-banger",
		Vmlinux: filepath.Join(dir, "vmlinux"), BzImage: filepath.Join(dir, "bzImage"),
		SHA256: sha(vm), Size: int64(len(vm)),
		Origin: "built from linux-source-6.1.tar.xz", Discovery: DiscoveryCmdline,
	}
	if diff := cmp.Diff(want, k, cmpopts.IgnoreFields(Kernel{}, "CreatedAt")); diff != "" {
		t.Errorf("Build (-want +got):\n%s", diff)
	}
	if got := readFile(t, k.Vmlinux); got != vm {
		t.Errorf("stored vmlinux = %q, want the build's", got)
	}
	if diff := cmp.Diff(kernelbuild.Options{Source: "/src/linux.tar.xz", WorkDir: f.svc.cfg.WorkDir, Jobs: 3}, f.host.lastOpts); diff != "" {
		t.Errorf("build options (-want +got):\n%s", diff)
	}
	got, err := f.svc.Get(ctx, "default")
	if err != nil || got.ID != k.ID {
		t.Errorf("Get(default) = %+v, %v", got, err)
	}

	var steps []string
	for _, e := range events {
		if e.OpID != "op-1" || e.Kind != OpBuild || e.Target != "default" || e.Total != len(kernelbuild.Steps)+1 {
			t.Errorf("malformed event %+v", e)
		}
		if n := len(steps); n == 0 || steps[n-1] != e.Step {
			steps = append(steps, e.Step)
			if e.Index != len(steps) {
				t.Errorf("step %s has index %d, want %d", e.Step, e.Index, len(steps))
			}
		}
	}
	if diff := cmp.Diff(append(append([]string(nil), kernelbuild.Steps...), "record"), steps); diff != "" {
		t.Errorf("steps (-want +got):\n%s", diff)
	}

	// The same name again is refused before building.
	_, err = f.svc.Build(ctx, "op-2", BuildRequest{}, nil)
	if !errdefs.Is(err, errdefs.AlreadyExists) || !strings.Contains(err.Error(), "banger kernel rm default") {
		t.Errorf("second Build = %v, want AlreadyExists naming kernel rm", err)
	}
	if f.host.calls != 1 {
		t.Errorf("host builds = %d, want 1", f.host.calls)
	}

	// Another name reuses the build cache and gets its own copy.
	k2, err := f.svc.Build(ctx, "op-3", BuildRequest{Name: "second"}, nil)
	if err != nil {
		t.Fatalf("Build(second): %v", err)
	}
	if f.host.builds != 1 || k2.SHA256 != k.SHA256 || filepath.Dir(k2.Vmlinux) == filepath.Dir(k.Vmlinux) {
		t.Errorf("second build %+v: want the cached kernel in its own directory (compiles: %d)", k2, f.host.builds)
	}
}

func TestBuildBadRequestsAndFailures(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	tests := []struct {
		name string
		req  BuildRequest
		fail error
		want errdefs.Kind
	}{
		{"bad name", BuildRequest{Name: "Bad_Name"}, nil, errdefs.InvalidArgument},
		{"negative jobs", BuildRequest{Jobs: -1}, nil, errdefs.InvalidArgument},
		{"too many jobs", BuildRequest{Jobs: 257}, nil, errdefs.InvalidArgument},
		{"jobs max int", BuildRequest{Jobs: math.MaxInt}, nil, errdefs.InvalidArgument},
		{"no source", BuildRequest{}, errdefs.FailedPreconditionf("no kernel source found"), errdefs.FailedPrecondition},
		{"cancelled", BuildRequest{}, context.Canceled, errdefs.Internal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.host.buildErr = tt.fail
			_, err := f.svc.Build(ctx, "op", tt.req, nil)
			if got := errdefs.KindOf(err); got != tt.want {
				t.Errorf("Build = %v (kind %q), want kind %q", err, got, tt.want)
			}
			if tt.fail != nil && !errors.Is(err, tt.fail) {
				t.Errorf("Build = %v, want it to wrap %v", err, tt.fail)
			}
		})
	}
	if list, _ := f.svc.List(ctx); len(list) != 0 {
		t.Errorf("kernels recorded after failures: %+v", list)
	}
	if dirs := f.storeDirs(t); len(dirs) != 0 {
		t.Errorf("kernel store holds %v after failures", dirs)
	}
}

func TestRemove(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	k, err := f.svc.Import(ctx, ImportRequest{Name: "mine", Path: f.file(t, "vmlinux", fakeVmlinux("6.6.1"))})
	if err != nil {
		t.Fatal(err)
	}
	img := store.Image{ID: strings.Repeat("a", 16), Name: "img", RootFS: "/r.ext4", Kernel: k.Vmlinux}
	if err := f.store.CreateImage(ctx, img); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Remove(ctx, "mine"); !errdefs.Is(err, errdefs.FailedPrecondition) {
		t.Errorf("Remove while an image uses it = %v, want FailedPrecondition", err)
	}
	if _, err := os.Stat(k.Vmlinux); err != nil {
		t.Errorf("a refused remove deleted files: %v", err)
	}
	if err := f.store.DeleteImage(ctx, img.ID); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Remove(ctx, k.ID); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if dirs := f.storeDirs(t); len(dirs) != 0 {
		t.Errorf("kernel store holds %v after remove", dirs)
	}
	if _, err := os.Stat(filepath.Join(f.files, "vmlinux")); err != nil {
		t.Errorf("remove touched the imported source file: %v", err)
	}
	if err := f.svc.Remove(ctx, "mine"); !errdefs.Is(err, errdefs.NotFound) {
		t.Errorf("second Remove = %v, want NotFound", err)
	}
}

func TestInspectFindsRelease(t *testing.T) {
	tests := []struct{ name, content, want string }{
		{"banner", fakeVmlinux("6.1.192-banger"), "6.1.192-banger"},
		{"format string first", "Linux version %s (%s)\x00Linux version 5.10.1 (x)", "5.10.1"},
		{"no banner", "just bytes", ""},
		{"banner across the 1 MiB read boundary", strings.Repeat("x", 1<<20-20) + "Linux version 6.1.7-abc (x)", "6.1.7-abc"},
		{"unterminated", "Linux version 6.1", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "k")
			if err := os.WriteFile(p, []byte(tt.content), 0o644); err != nil {
				t.Fatal(err)
			}
			sum, size, got, err := inspect(context.Background(), p)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want || sum != sha(tt.content) || size != int64(len(tt.content)) {
				t.Errorf("inspect = %s, %d, %q; want %q", sum, size, got, tt.want)
			}
		})
	}
}
