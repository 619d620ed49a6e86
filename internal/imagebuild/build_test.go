package imagebuild

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"banger/internal/errdefs"
	"banger/internal/testtier"
)

// fakeBootstrap is a stand-in for mmdebstrap: it prints progress lines
// like the real one and makes a tiny tree in its last but one argument
// (the mirror comes last). With FAKE_BOOTSTRAP=fail it fails half-way;
// with =hang it waits forever.
const fakeBootstrap = `#!/bin/sh
for a; do dir="$mirror"; mirror="$a"; done
echo "I: running apt-get update..."
echo "I: downloading packages with apt..." >&2
mkdir -p "$dir/etc/ssh" "$dir/etc/skel" "$dir/root" "$dir/var/lib/apt/lists"
case "$FAKE_BOOTSTRAP" in
fail) echo "E: cannot reach the mirror" >&2; exit 3 ;;
hang) sleep 600 & wait ;;
esac
echo 'root:*:20000:0:99999:7:::' > "$dir/etc/shadow"
echo 'key' > "$dir/etc/ssh/ssh_host_ed25519_key"
echo 'args:' "$@" > "$dir/args"
echo "I: success in 0.1 seconds"
`

// fakeFinder returns a find function that serves the fake bootstrap for
// mmdebstrap and the real e2fsprogs, skipping the test without them.
func fakeFinder(t *testing.T) func(string) (string, error) {
	t.Helper()
	testtier.Root(t) // an image build runs as root
	for _, tool := range []string{"mkfs.ext4", "tune2fs", "debugfs"} {
		if _, err := findTool(tool); err != nil {
			t.Skipf("needs %s: %v", tool, err)
		}
	}
	script := filepath.Join(t.TempDir(), "mmdebstrap")
	if err := os.WriteFile(script, []byte(fakeBootstrap), 0o755); err != nil {
		t.Fatal(err)
	}
	return func(name string) (string, error) {
		if name == "mmdebstrap" {
			return script, nil
		}
		return findTool(name)
	}
}

func testOptions(t *testing.T) Options {
	agent := filepath.Join(t.TempDir(), "banger-agent")
	writeELF(t, agent, false)
	return Options{AgentBinary: agent, WorkDir: filepath.Join(t.TempDir(), "images"), Packages: []string{"htop"}}
}

func debugfsCat(t *testing.T, image, path string) string {
	t.Helper()
	out, err := exec.Command("debugfs", "-R", "cat "+path, image).Output()
	if err != nil {
		t.Fatalf("debugfs cat %s: %v", path, err)
	}
	return string(out)
}

func TestBuildWithFakeBootstrap(t *testing.T) {
	find := fakeFinder(t)
	o := testOptions(t)
	var steps []string
	var details []string
	res, err := build(context.Background(), o, find, func(p Progress) {
		if p.Detail == "" {
			steps = append(steps, p.Step)
		} else {
			details = append(details, p.Detail)
		}
		if p.Total != len(Steps) || p.Index < 1 || p.Index > p.Total || Steps[p.Index-1] != p.Step {
			t.Errorf("bad progress %+v", p)
		}
	})
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	if diff := cmp.Diff(Steps, steps); diff != "" {
		t.Errorf("steps (-want +got):\n%s", diff)
	}
	if !strings.Contains(strings.Join(details, "\n"), "I: downloading packages with apt...") {
		t.Errorf("bootstrap output not passed on; details:\n%s", strings.Join(details, "\n"))
	}
	if want := filepath.Join(o.WorkDir, res.SHA256, RootFSName); res.RootFS != want {
		t.Errorf("RootFS = %s, want %s", res.RootFS, want)
	}
	sum, size, err := fileSHA256(res.RootFS)
	if err != nil || sum != res.SHA256 || size != res.Size {
		t.Errorf("stored file: sha256 %s size %d (%v), result says %s %d", sum, size, err, res.SHA256, res.Size)
	}
	if res.Size%mib != 0 {
		t.Errorf("size %d is not whole MiB", res.Size)
	}
	entries, _ := os.ReadDir(o.WorkDir)
	if len(entries) != 1 || entries[0].Name() != res.SHA256 {
		t.Errorf("work dir holds %v, want only %s (build area removed)", entries, res.SHA256)
	}
	out, err := exec.Command("e2fsck", "-fn", res.RootFS).CombinedOutput()
	if err != nil {
		t.Errorf("e2fsck -fn: %v\n%s", err, out)
	}
	if got := debugfsCat(t, res.RootFS, "/etc/shadow"); got != "root:!:20000:0:99999:7:::\n" {
		t.Errorf("/etc/shadow = %q", got)
	}
	args := debugfsCat(t, res.RootFS, "/args")
	wantArgs := "--verbose --variant=minbase --mode=root --include=" + strings.Join(append(append([]string{}, basePackages...), "htop"), ",") +
		" bookworm "
	if !strings.HasPrefix(args, "args: "+wantArgs) || !strings.HasSuffix(args, " http://deb.debian.org/debian\n") {
		t.Errorf("bootstrap args = %q, want %q DIR mirror", args, wantArgs)
	}
}

func TestBuildCleansUpOnFailure(t *testing.T) {
	find := fakeFinder(t)
	o := testOptions(t)
	t.Setenv("FAKE_BOOTSTRAP", "fail")
	_, err := build(context.Background(), o, find, nil)
	if err == nil || !strings.Contains(err.Error(), "cannot reach the mirror") {
		t.Fatalf("build = %v, want the bootstrap's error", err)
	}
	if entries, _ := os.ReadDir(o.WorkDir); len(entries) != 0 {
		t.Errorf("work dir holds %v after a failed build, want nothing", entries)
	}
}

func TestBuildCancelled(t *testing.T) {
	find := fakeFinder(t)
	o := testOptions(t)
	t.Setenv("FAKE_BOOTSTRAP", "hang")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	start := time.Now()
	_, err := build(ctx, o, find, func(p Progress) {
		if strings.HasPrefix(p.Detail, "I: downloading") {
			cancel()
		}
	})
	if err == nil || ctx.Err() == nil || !strings.Contains(err.Error(), "context canceled") {
		t.Fatalf("build = %v, want a cancellation error", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("cancelled build took %v to return", d)
	}
	if entries, _ := os.ReadDir(o.WorkDir); len(entries) != 0 {
		t.Errorf("work dir holds %v after a cancelled build, want nothing", entries)
	}
}

func TestBuildPreconditions(t *testing.T) {
	testtier.Root(t) // the tool checks come after the root check
	dir := t.TempDir()
	dynamic := filepath.Join(dir, "dynamic")
	writeELF(t, dynamic, true)
	text := filepath.Join(dir, "script")
	if err := os.WriteFile(text, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	none := func(string) (string, error) { return "", errdefs.FailedPreconditionf("missing") }
	tests := []struct {
		name    string
		agent   string
		find    func(string) (string, error)
		wantMsg string
	}{
		{"no tools", dynamic, none, `apt-get install mmdebstrap e2fsprogs`},
		{"missing agent", filepath.Join(dir, "nope"), findTool, "does not exist"},
		{"agent not ELF", text, findTool, "not an ELF"},
		{"dynamic agent", dynamic, findTool, "CGO_ENABLED=0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := Options{AgentBinary: tt.agent, WorkDir: filepath.Join(t.TempDir(), "w")}
			_, err := build(context.Background(), o, tt.find, nil)
			if errdefs.KindOf(err) != errdefs.FailedPrecondition || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("build = %v (%s), want FailedPrecondition containing %q", err, errdefs.KindOf(err), tt.wantMsg)
			}
			if _, err := os.Stat(o.WorkDir); err == nil {
				t.Errorf("work dir was created before the checks passed")
			}
		})
	}
}
