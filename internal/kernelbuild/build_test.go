package kernelbuild

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"banger/internal/errdefs"
)

// fakeMakefile stands in for the kernel's: allnoconfig copies the fragment
// without the options this "source" does not know (UNKNOWN), vmlinux
// prints kbuild-style lines and, with FAKE_SLOW set, sleeps in a child
// whose pid goes to $FAKE_SLOW.
const fakeMakefile = `allnoconfig:
	grep -v UNKNOWN $(KCONFIG_ALLCONFIG) > .config
vmlinux:
	@echo "  CC      init/main.o"
	@echo "  CC      kernel/fork.o"
	@echo "  LD      vmlinux"
	@if [ -n "$$FAKE_SLOW" ]; then sh -c 'echo $$$$ > "$$FAKE_SLOW"; exec sleep 60'; fi
	@printf 'ELF kernel' > vmlinux
bzImage: vmlinux
	@mkdir -p arch/x86/boot && printf 'bz kernel' > arch/x86/boot/bzImage
kernelrelease:
	@echo 6.1.99-banger
`

// fakeSource writes dir/linux-source-6.1.tar.xz holding a tree with the
// fake Makefile and returns its path.
func fakeSource(t *testing.T, dir string) string {
	t.Helper()
	for _, tool := range []string{"make", "tar", "xz"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s", tool)
		}
	}
	stage := t.TempDir()
	tree := filepath.Join(stage, "linux-source-6.1")
	if err := os.MkdirAll(tree, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tree, "Makefile"), []byte(fakeMakefile), 0o644); err != nil {
		t.Fatal(err)
	}
	tarball := filepath.Join(dir, "linux-source-6.1.tar.xz")
	if out, err := exec.Command("tar", "-cJf", tarball, "-C", stage, "linux-source-6.1").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v\n%s", err, out)
	}
	return tarball
}

func testBuilder(srcDir string) builder {
	return builder{
		tools:      []string{"make", "tar", "xz"},
		lookPath:   exec.LookPath,
		sourceGlob: filepath.Join(srcDir, "linux-source-*.tar.xz"),
		fragment:   "# test fragment\nCONFIG_A=y\nCONFIG_B=\"x\"\n",
		lockPoll:   10 * time.Millisecond,
	}
}

// recorder keeps the steps reported, in order, without repeats.
type recorder struct {
	mu    sync.Mutex
	steps []string
	lines []string
}

func (r *recorder) progress(p Progress) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if n := len(r.steps); n == 0 || r.steps[n-1] != p.Step {
		r.steps = append(r.steps, p.Step)
	}
	if p.Step == StepCompile && p.Detail != "" {
		r.lines = append(r.lines, p.Detail)
	}
	if p.Fraction < 0 || p.Fraction > 1 {
		panic("fraction out of range: " + strconv.FormatFloat(p.Fraction, 'f', -1, 64))
	}
}

func TestBuildThenCached(t *testing.T) {
	srcDir, work := t.TempDir(), t.TempDir()
	fakeSource(t, srcDir)
	b := testBuilder(srcDir)
	var rec recorder
	res, err := b.build(context.Background(), Options{WorkDir: work, Jobs: 2}, rec.progress)
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	if diff := cmp.Diff([]string{StepFindSource, StepCheckTools, StepExtract, StepConfigure, StepCompile, StepInstall}, rec.steps); diff != "" {
		t.Errorf("steps (-want +got):\n%s", diff)
	}
	if !strings.Contains(strings.Join(rec.lines, "\n"), "  CC      kernel/fork.o") {
		t.Errorf("compile output not reported: %q", rec.lines)
	}
	if res.Version != "6.1.99-banger" || res.Cached {
		t.Errorf("result %+v, want version 6.1.99-banger, not cached", res)
	}
	for path, want := range map[string]string{res.Vmlinux: "ELF kernel", res.BzImage: "bz kernel"} {
		if got, err := os.ReadFile(path); err != nil || string(got) != want {
			t.Errorf("%s = %q, %v; want %q", path, got, err, want)
		}
	}
	if got, _ := os.ReadFile(filepath.Join(work, "compile-steps")); strings.TrimSpace(string(got)) != "3" {
		t.Errorf("recorded compile steps %q, want 3", got)
	}

	var again recorder
	res2, err := b.build(context.Background(), Options{WorkDir: work}, again.progress)
	if err != nil {
		t.Fatalf("second build: %v", err)
	}
	want := res
	want.Cached = true
	if diff := cmp.Diff(want, res2); diff != "" {
		t.Errorf("second build (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{StepFindSource, StepInstall}, again.steps); diff != "" {
		t.Errorf("cached build steps (-want +got):\n%s", diff)
	}

	// A changed fragment is another output; the extraction is reused.
	b.fragment += "CONFIG_C=y\n"
	var third recorder
	res3, err := b.build(context.Background(), Options{WorkDir: work}, third.progress)
	if err != nil {
		t.Fatalf("build with another fragment: %v", err)
	}
	if res3.Vmlinux == res.Vmlinux || res3.Cached {
		t.Errorf("another fragment gave %+v, want a fresh output", res3)
	}
	srcDirs, _ := filepath.Glob(filepath.Join(work, "src-*"))
	if len(srcDirs) != 1 {
		t.Errorf("source extracted into %v, want one directory", srcDirs)
	}
}

func TestBuildRefusesDroppedOptions(t *testing.T) {
	srcDir, work := t.TempDir(), t.TempDir()
	fakeSource(t, srcDir)
	b := testBuilder(srcDir)
	b.fragment = "CONFIG_A=y\nCONFIG_UNKNOWN_ONE=y\nCONFIG_B=y\nCONFIG_UNKNOWN_TWO=m\n"
	_, err := b.build(context.Background(), Options{WorkDir: work}, nil)
	if got := errdefs.KindOf(err); got != errdefs.FailedPrecondition {
		t.Fatalf("kind %q, want %q (%v)", got, errdefs.FailedPrecondition, err)
	}
	if !strings.Contains(err.Error(), "CONFIG_UNKNOWN_ONE=y, CONFIG_UNKNOWN_TWO=m") {
		t.Errorf("error %q does not list the dropped options", err)
	}
	if outs, _ := filepath.Glob(filepath.Join(work, "out-*")); len(outs) != 0 {
		t.Errorf("output left behind: %v", outs)
	}
}

func TestBuildCancelKillsMake(t *testing.T) {
	srcDir, work := t.TempDir(), t.TempDir()
	fakeSource(t, srcDir)
	pidFile := filepath.Join(t.TempDir(), "sleep.pid")
	t.Setenv("FAKE_SLOW", pidFile)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := testBuilder(srcDir).build(ctx, Options{WorkDir: work}, nil)
		done <- err
	}()
	pid := waitForPID(t, pidFile)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("build error %v, want context.Canceled", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("build did not return after cancel")
	}
	if !gone(pid, 5*time.Second) {
		syscall.Kill(pid, syscall.SIGKILL)
		t.Errorf("make's child %d survived the cancel", pid)
	}
	if outs, _ := filepath.Glob(filepath.Join(work, "out-*")); len(outs) != 0 {
		t.Errorf("output left behind: %v", outs)
	}
}

// gone waits for pid to exit: absent, or a zombie waiting for its reaper.
func gone(pid int, wait time.Duration) bool {
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			return true
		}
		if i := strings.LastIndexByte(string(stat), ')'); i > 0 && strings.HasPrefix(string(stat[i+1:]), " Z") {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

func waitForPID(t *testing.T, path string) int {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(path); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				return pid
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("the slow compile never started")
	return 0
}

func TestBuildWaitsForLock(t *testing.T) {
	srcDir, work := t.TempDir(), t.TempDir()
	fakeSource(t, srcDir)
	unlock, err := lockDir(context.Background(), work, time.Millisecond, func() {})
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	var details []string
	_, err = testBuilder(srcDir).build(ctx, Options{WorkDir: work}, func(p Progress) { details = append(details, p.Detail) })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("build error %v, want context.DeadlineExceeded while locked", err)
	}
	if len(details) != 1 || !strings.Contains(details[0], "waiting for another kernel build") {
		t.Errorf("progress %q, want one waiting note", details)
	}
}
