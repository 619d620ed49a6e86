package e2e

import (
	"crypto/rand"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestBadInput checks that the CLI refuses bad VM and image requests with
// a message naming the problem, and that nothing changes when it does.
func TestBadInput(t *testing.T) {
	w := newWorld(t)
	w.registerImage()
	w.mustBanger(append([]string{"vm", "create", "dup"}, vmFlags...)...)

	junk := w.path("files/junk")
	random := make([]byte, 64<<10)
	if _, err := rand.Read(random); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(junk, random, 0o600); err != nil {
		t.Fatal(err)
	}
	rootfs, kernel := w.path("files/root.ext4"), w.path("files/vmlinux")
	missing := w.path("files/missing")
	fifo := w.path("files/fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}

	create := func(args ...string) []string {
		// The case's own flags come last, so they win over the defaults.
		return append(append([]string{"vm", "create"}, vmFlags...), args...)
	}
	register := func(name, rootfs, kernel string) []string {
		return []string{"image", "register", "--name", name, "--rootfs", rootfs, "--kernel", kernel}
	}
	tests := []struct {
		name string
		args []string
		want []string // substrings of stderr
	}{
		{"invalid-name", create("Bad_Name"), []string{`invalid VM name "Bad_Name"`}},
		{"name-too-long", create(strings.Repeat("a", 64)), []string{"invalid VM name", "64 characters"}},
		{"duplicate-name", create("dup"), []string{`"dup" already exists`}},
		{"zero-vcpus", create("--vcpu", "0", "x"), []string{"--vcpu 0", "at least 1"}},
		{"tiny-memory", create("--memory", "1K", "x"), []string{"--memory 1K"}},
		{"memory-below-minimum", create("--memory", "64M", "x"), []string{"64MiB", "128MiB"}},
		{"bad-disk-size", create("--disk-size", "abc", "x"), []string{"--disk-size", `"abc"`}},
		{"disk-below-minimum", create("--disk-size", "64M", "x"), []string{"64MiB", "256MiB"}},
		{"missing-image", create("--image", "nosuch", "x"), []string{`no image named "nosuch"`}},
		{"rootfs-not-ext4", register("i", junk, kernel), []string{junk, "not an ext4"}},
		{"kernel-random-bytes", register("i", rootfs, junk), []string{junk, "not a kernel"}},
		{"rootfs-missing", register("i", missing, kernel), []string{missing, "does not exist"}},
		{"kernel-missing", register("i", rootfs, missing), []string{missing, "does not exist"}},
		{"memory-over-limit", create("--memory", "16T", "x"), []string{"memory_mib = 16777216 (16TiB)", "must be between 128 and"}},
		{"disk-over-limit", create("--disk-size", "3T", "x"), []string{"disk_bytes = 3298534883328 (3TiB)", "(256MiB to 2TiB)"}},
		{"memory-too-large-for-64-bits", create("--memory", "17592186044672M", "x"), []string{"--memory", "too large"}},
		{"rootfs-fifo", register("i", fifo, kernel), []string{fifo, "named pipe (FIFO), not a regular file"}},
		{"kernel-fifo", register("i", rootfs, fifo), []string{fifo, "named pipe (FIFO), not a regular file"}},
		{"rootfs-dev-zero", register("i", "/dev/zero", kernel), []string{"/dev/zero", "character device, not a regular file"}},
		{"image-name-taken", register("default", rootfs, kernel), []string{`"default" already exists`, "banger image rm default"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w.t = t
			vmsBefore := w.mustBanger("vm", "list", "--json")
			imagesBefore := w.mustBanger("image", "list", "--json")
			stdout, stderr, code := w.banger(tt.args...)
			t.Logf("banger %s: exit %d: %s", strings.Join(tt.args, " "), code, strings.TrimSpace(stderr))
			if code == 0 {
				t.Fatalf("exit 0, want failure; stdout:\n%s", stdout)
			}
			if !strings.HasPrefix(stderr, "banger: ") {
				t.Errorf("stderr %q does not start with \"banger: \"", stderr)
			}
			for _, s := range tt.want {
				if !strings.Contains(stderr, s) {
					t.Errorf("stderr %q lacks %q", stderr, s)
				}
			}
			if got := w.mustBanger("vm", "list", "--json"); !cmp.Equal(got, vmsBefore) {
				t.Errorf("vm list changed (-got +want):\n%s", cmp.Diff(got, vmsBefore))
			}
			if got := w.mustBanger("image", "list", "--json"); !cmp.Equal(got, imagesBefore) {
				t.Errorf("image list changed (-got +want):\n%s", cmp.Diff(got, imagesBefore))
			}
			if len(entries(w.vmsDir())) != 1 {
				t.Errorf("VM directories = %v, want only dup's", entries(w.vmsDir()))
			}
			if tmp := w.tempFiles(); len(tmp) != 0 {
				t.Errorf("temporary files left: %v", tmp)
			}
		})
	}
}
