package imagebuild_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"banger/internal/imagebuild"
	"banger/internal/imagebuild/imagetest"
	"banger/internal/peercred/peercredtest"
	"banger/internal/testtier"
)

// rootlessUser is the unprivileged account the rootless build test runs
// as; .ci/run creates it with subordinate ids.
const rootlessUser = "banger-ci"

const (
	rootlessWorkEnv  = "BANGER_ROOTLESS_TEST_WORK"
	rootlessAgentEnv = "BANGER_ROOTLESS_TEST_AGENT"
)

// TestHelperRootlessBuild is not a test: TestRootlessImage re-executes
// the test binary as an unprivileged uid to run it. It builds the image
// as that uid and prints its path.
func TestHelperRootlessBuild(t *testing.T) {
	work, agent := os.Getenv(rootlessWorkEnv), os.Getenv(rootlessAgentEnv)
	if work == "" || agent == "" {
		t.Skip("helper process for TestRootlessImage; runs only when re-executed with " + rootlessWorkEnv)
	}
	start := time.Now()
	res, err := imagebuild.Build(context.Background(), imagebuild.Options{AgentBinary: agent, WorkDir: work}, func(p imagebuild.Progress) {
		if p.Detail == "" || p.Index == 1 {
			fmt.Printf("step %d/%d %s %s (%s)\n", p.Index, p.Total, p.Step, p.Detail, time.Since(start).Round(time.Second))
		}
	})
	if err != nil {
		fmt.Printf("RESULT error %v\n", err)
		return
	}
	fmt.Printf("RESULT ok %s\n", res.RootFS)
}

// TestRootlessImage builds the default image as an ordinary user (user
// namespace, subordinate ids) and checks that every path in it has the
// same type, mode (setuid bits included), owner, group, symlink target
// and device number as in the root-built image.
//
// Ignored, because they legitimately differ between two builds: time
// stamps, sizes and contents (logs, caches and the agent's embedded data
// differ per build; ownership and modes are what a user namespace could
// get wrong), inode numbers, and the paths in rootlessIgnored.
func TestRootlessImage(t *testing.T) {
	testtier.Root(t) // runs the build as another uid
	testtier.Slow(t) // one more image build (1-2 minutes, network)
	u, err := user.Lookup(rootlessUser)
	if err != nil {
		t.Skipf("needs the user %s with subordinate ids (.ci/run makes it): useradd --system --create-home --home-dir /var/lib/%s %s && usermod --add-subuids 100000-165535 --add-subgids 100000-165535 %s",
			rootlessUser, rootlessUser, rootlessUser, rootlessUser)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	rootImg := imagetest.RootFS(t)

	dir, err := os.MkdirTemp("", "banger-rootless-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	agent, err := imagetest.AgentBinary(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(agent, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := peercredtest.Binary(t, dir)
	work := filepath.Join(dir, "images")
	if err := os.Mkdir(work, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(work, uid, gid); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(bin, "-test.run=^TestHelperRootlessBuild$", "-test.count=1", "-test.v", "-test.timeout=15m")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), rootlessWorkEnv+"="+work, rootlessAgentEnv+"="+agent, "HOME="+dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("build as %s: %v\n%s", rootlessUser, err, out)
	}
	var result string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if r, ok := strings.CutPrefix(sc.Text(), "RESULT "); ok {
			result = r
		}
	}
	img, ok := strings.CutPrefix(result, "ok ")
	if !ok {
		t.Fatalf("build as %s: %s\n%s", rootlessUser, result, out)
	}
	t.Logf("built as uid %d: %s", uid, img)
	if entries, _ := os.ReadDir(work); len(entries) != 1 {
		t.Errorf("the build left %d entries in its work directory, want only the image's", len(entries))
	}

	want, got := listImage(t, rootImg), listImage(t, img)
	for p := range rootlessIgnored {
		delete(want, p)
		delete(got, p)
	}
	if len(want) < 5000 {
		t.Fatalf("the root-built image lists only %d paths", len(want))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("rootless image differs from the root-built one (-root +rootless):\n%s", diff)
	}
	for _, p := range []string{"/usr/bin/su", "/usr/bin/passwd", "/dev/null", "/etc/shadow", "/var/cache/apt/archives/partial"} {
		t.Logf("%s: %s", p, got[p])
	}
}

// rootlessIgnored are paths whose presence may differ between two builds.
var rootlessIgnored = map[string]bool{}

// listImage lists every path of the ext4 image img with debugfs (no
// mounting): "type+mode uid gid", plus the target of a symlink and the
// numbers of a device node.
func listImage(t *testing.T, img string) map[string]string {
	t.Helper()
	out := map[string]string{}
	var special []string // symlinks and device nodes
	level := []string{"/"}
	for len(level) > 0 {
		var script strings.Builder
		for _, d := range level {
			fmt.Fprintf(&script, "ls -p %q\n", d)
		}
		var next []string
		cur := ""
		for _, line := range debugfsScript(t, img, script.String()) {
			if cmdline, ok := strings.CutPrefix(line, "debugfs: ls -p "); ok {
				cur, _ = strconv.Unquote(cmdline)
				continue
			}
			// /ino/mode/uid/gid/name/size/
			f := strings.Split(line, "/")
			if len(f) < 7 || f[0] != "" || cur == "" {
				continue
			}
			name := strings.Join(f[5:len(f)-2], "/")
			if name == "." || name == ".." {
				continue
			}
			p := path.Join(cur, name)
			mode, err := strconv.ParseUint(f[2], 8, 32)
			if err != nil {
				t.Fatalf("debugfs ls -p %s: line %q", cur, line)
			}
			out[p] = fmt.Sprintf("%07o %s:%s", mode, f[3], f[4])
			switch mode & 0o170000 {
			case 0o040000:
				next = append(next, p)
			case 0o120000, 0o020000, 0o060000:
				special = append(special, p)
			}
		}
		level = next
	}
	var script strings.Builder
	for _, p := range special {
		fmt.Fprintf(&script, "stat %q\n", p)
	}
	cur := ""
	for _, line := range debugfsScript(t, img, script.String()) {
		if cmdline, ok := strings.CutPrefix(line, "debugfs: stat "); ok {
			cur, _ = strconv.Unquote(cmdline)
			continue
		}
		if dest, ok := strings.CutPrefix(line, "Fast link dest: "); ok && cur != "" {
			out[cur] += " -> " + dest
		}
		if dev, ok := strings.CutPrefix(line, "Device major/minor number: "); ok && cur != "" {
			out[cur] += " dev " + strings.Fields(dev)[0]
		}
	}
	for _, p := range special { // symlinks too long for the inode
		if strings.HasPrefix(out[p], "012") && !strings.Contains(out[p], " -> ") {
			dest, err := exec.Command("debugfs", "-R", fmt.Sprintf("cat %q", p), img).Output()
			if err != nil {
				t.Fatalf("debugfs cat %s: %v", p, err)
			}
			out[p] += fmt.Sprintf(" -> %q", dest)
		}
	}
	return out
}

// debugfsScript runs the commands in script against img read-only and
// returns the output lines (debugfs echoes each command as "debugfs: ").
func debugfsScript(t *testing.T, img, script string) []string {
	t.Helper()
	f, err := os.CreateTemp("", "debugfs-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(f.Name())
	if _, err := f.WriteString(script); err != nil {
		t.Fatal(err)
	}
	f.Close()
	cmd := exec.Command("debugfs", "-f", f.Name(), img)
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	if err := cmd.Run(); err != nil {
		t.Fatalf("debugfs -f on %s: %v", img, err)
	}
	return strings.Split(stdout.String(), "\n")
}
