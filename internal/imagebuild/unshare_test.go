package imagebuild

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"banger/internal/peercred/peercredtest"
	"banger/internal/testtier"
)

// fakeUnshareBootstrap stands in for mmdebstrap in an unshare build: run
// as root of the build's user namespace, it makes a tree with files of
// another user (_apt, 42) in a directory only that user may enter, a
// setuid binary and an empty /dev, as the real one leaves them. With
// FAKE_BOOTSTRAP=fail it fails after making them; with =hang it waits.
const fakeUnshareBootstrap = `#!/bin/sh
set -e
dir="$5"
[ "$(id -u)" = 0 ] || { echo "E: not root in the namespace: $(id)" >&2; exit 4; }
mkdir -p "$dir/etc/ssh" "$dir/etc/skel" "$dir/root" "$dir/dev" "$dir/usr/bin" "$dir/var/cache/apt/archives/partial/deep"
echo 'root:*:20000:0:99999:7:::' > "$dir/etc/shadow"
chown 0:42 "$dir/etc/shadow"
chmod 0640 "$dir/etc/shadow"
echo x > "$dir/var/cache/apt/archives/partial/deep/file"
chown -R 42:65534 "$dir/var/cache/apt/archives/partial"
chmod 0700 "$dir/var/cache/apt/archives/partial" "$dir/var/cache/apt/archives/partial/deep"
printf 'bin' > "$dir/usr/bin/su"
chmod 4755 "$dir/usr/bin/su"
echo "I: running apt-get update..."
[ "$FAKE_BOOTSTRAP" = fail ] && { echo "E: cannot reach the mirror" >&2; exit 3; }
[ "$FAKE_BOOTSTRAP" = hang ] && { sleep 600 & wait; }
echo "I: success in 0.1 seconds"
`

const (
	unshareWorkEnv = "BANGER_UNSHARE_TEST_WORK"
	unshareFakeEnv = "BANGER_UNSHARE_TEST_FAKE"
	// unshareCancelEnv makes the helper cancel the build when the
	// bootstrap reports progress.
	unshareCancelEnv = "BANGER_UNSHARE_TEST_CANCEL"
)

// TestHelperUnshareBuild is not a test: TestUnshareBuild re-executes the
// test binary as an unprivileged uid to run it. It builds with the fake
// bootstrap and prints the result.
func TestHelperUnshareBuild(t *testing.T) {
	work, fake := os.Getenv(unshareWorkEnv), os.Getenv(unshareFakeEnv)
	if work == "" || fake == "" {
		t.Skip("helper process for TestUnshareBuild; runs only when re-executed with " + unshareWorkEnv)
	}
	find := func(name string) (string, error) {
		if name == "mmdebstrap" {
			return fake, nil
		}
		return findTool(name)
	}
	agent := filepath.Join(work, "banger-agent")
	writeELF(t, agent, false)
	var mode string
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	res, err := build(ctx, Options{AgentBinary: agent, WorkDir: filepath.Join(work, "images")}, find, func(p Progress) {
		if strings.HasPrefix(p.Detail, "without root") {
			mode = "unshare"
		}
		if strings.HasPrefix(p.Detail, "I: running apt-get update") && os.Getenv(unshareCancelEnv) != "" {
			cancel()
		}
	})
	if err != nil {
		fmt.Printf("RESULT error %s\n", strings.ReplaceAll(err.Error(), "\n", " | "))
		return
	}
	fmt.Printf("RESULT ok %s %s\n", mode, res.RootFS)
}

// TestUnshareBuild runs a build as an unprivileged user with subordinate
// ids, with a fake bootstrap (no network): the daemon's user-namespace
// path end to end in a second. The image must record the in-namespace
// owners (root, _apt 42, nogroup 65534), the setuid bit and mmdebstrap's
// /dev nodes; a failed build must leave nothing behind although the
// tree holds a directory of another user that the builder cannot enter
// from outside the namespace.
func TestUnshareBuild(t *testing.T) {
	testtier.Root(t) // runs the build as another uid
	u, err := user.Lookup(unshareTestUser)
	if err != nil {
		t.Skipf("needs the user %s with subordinate ids (.ci/run makes it): useradd --system --create-home --home-dir /var/lib/%s %s && usermod --add-subuids 100000-165535 --add-subgids 100000-165535 %s",
			unshareTestUser, unshareTestUser, unshareTestUser, unshareTestUser)
	}
	for _, tool := range []string{"mkfs.ext4", "tune2fs", "debugfs", "unshare", "newuidmap", "newgidmap"} {
		if _, err := findTool(tool); err != nil {
			t.Skipf("needs %s: %v", tool, err)
		}
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	dir, err := os.MkdirTemp("", "banger-unshare-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := peercredtest.Binary(t, dir)
	fake := filepath.Join(dir, "mmdebstrap")
	if err := os.WriteFile(fake, []byte(fakeUnshareBootstrap), 0o755); err != nil {
		t.Fatal(err)
	}
	run := func(t *testing.T, env ...string) string {
		t.Helper()
		work, err := os.MkdirTemp(dir, "work-")
		if err != nil {
			t.Fatal(err)
		}
		// Private, like the daemon's state directory: the namespace's
		// other ids cannot enter it, only its root (the user) can.
		if err := os.Chmod(work, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(work, uid, gid); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "-test.run=^TestHelperUnshareBuild$", "-test.count=1", "-test.v")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), append(env, unshareWorkEnv+"="+work, unshareFakeEnv+"="+fake)...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("helper as %s: %v\n%s", unshareTestUser, err, out)
		}
		for _, line := range strings.Split(string(out), "\n") {
			if r, ok := strings.CutPrefix(line, "RESULT "); ok {
				return r
			}
		}
		t.Fatalf("helper printed no RESULT:\n%s", out)
		return ""
	}

	t.Run("build", func(t *testing.T) {
		res := run(t)
		img, ok := strings.CutPrefix(res, "ok unshare ")
		if !ok {
			t.Fatalf("build as %s: %s", unshareTestUser, res)
		}
		stat := func(p string) string {
			out, err := exec.Command("debugfs", "-R", "stat "+p, img).Output()
			if err != nil {
				t.Fatalf("debugfs stat %s: %v", p, err)
			}
			return string(out)
		}
		for _, c := range []struct{ path, want string }{
			{"/etc/shadow", "User:     0   Group:    42"},
			{"/etc/shadow", "Mode:  0640"},
			{"/var/cache/apt/archives/partial/deep/file", "User:    42   Group: 65534"},
			{"/var/cache/apt/archives/partial", "Mode:  0700"},
			{"/usr/bin/su", "Mode:  04755"},
			{"/usr/local/bin/banger-agent", "User:     0   Group:     0"},
			{"/dev/null", "Type: character special"},
			{"/dev/null", "Mode:  0666"},
			{"/dev/null", "Device major/minor number: 01:03"},
			{"/dev/fd", `Fast link dest: "/proc/self/fd"`},
			{"/dev/pts", "Type: directory"},
		} {
			if got := stat(c.path); !strings.Contains(got, c.want) {
				t.Errorf("%s lacks %q:\n%s", c.path, c.want, got)
			}
		}
		entries, _ := os.ReadDir(filepath.Dir(filepath.Dir(img)))
		if len(entries) != 1 {
			t.Errorf("images directory holds %d entries, want only the image's (build area removed)", len(entries))
		}
	})
	t.Run("failure leaves nothing", func(t *testing.T) {
		res := run(t, "FAKE_BOOTSTRAP=fail")
		if !strings.HasPrefix(res, "error ") || !strings.Contains(res, "cannot reach the mirror") {
			t.Fatalf("build = %s, want the bootstrap's error", res)
		}
		if left := leftAreas(dir); len(left) != 0 {
			t.Errorf("a failed build left %v", left)
		}
	})
	t.Run("cancel leaves nothing", func(t *testing.T) {
		res := run(t, "FAKE_BOOTSTRAP=hang", unshareCancelEnv+"=1")
		if !strings.HasPrefix(res, "error ") || !strings.Contains(res, "context canceled") {
			t.Fatalf("build = %s, want a cancellation error", res)
		}
		if left := leftAreas(dir); len(left) != 0 {
			t.Errorf("a cancelled build left %v", left)
		}
	})
}

// unshareTestUser is the unprivileged account with subordinate ids the
// unshare build tests run as; .ci/run creates it.
const unshareTestUser = "banger-ci"

// leftAreas lists the build areas under dir's work directories.
func leftAreas(dir string) []string {
	left, _ := filepath.Glob(filepath.Join(dir, "work-*", "images", buildPrefix+"*"))
	return left
}
