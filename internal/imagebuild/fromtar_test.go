package imagebuild

import (
	"archive/tar"
	"bytes"
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

	"banger/internal/errdefs"
	"banger/internal/peercred/peercredtest"
	"banger/internal/testtier"
)

// tarOf writes hdrs (with bodies for regular files) as a tar stream.
func tarOf(t *testing.T, hdrs ...*tar.Header) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, h := range hdrs {
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(h.Linkname))
			body := h.Linkname
			h.Linkname = ""
			if err := tw.WriteHeader(h); err != nil {
				t.Fatal(err)
			}
			if _, err := tw.Write([]byte(body)); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func dirHdr(name string) *tar.Header {
	return &tar.Header{Name: name, Typeflag: tar.TypeDir, Mode: 0o755}
}

// file's body is passed in Linkname and moved by tarOf.
func file(name, body string) *tar.Header {
	return &tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Linkname: body}
}
func symlink(name, target string) *tar.Header {
	return &tar.Header{Name: name, Typeflag: tar.TypeSymlink, Linkname: target}
}
func hardlink(name, target string) *tar.Header {
	return &tar.Header{Name: name, Typeflag: tar.TypeLink, Linkname: target}
}

// TestCheckRootfsTar: the check before a flattened tree is extracted as
// root refuses every entry that could make tar write outside the tree or
// make something the image must not hold, and passes a normal tree.
func TestCheckRootfsTar(t *testing.T) {
	ok := tarOf(t, dirHdr("./"), dirHdr("bin"), file("bin/busybox", "x"), symlink("bin/sh", "busybox"),
		symlink("lib", "/usr/lib"), hardlink("bin/ls", "bin/busybox"),
		&tar.Header{Name: "run/fifo", Typeflag: tar.TypeFifo, Mode: 0o600},
		&tar.Header{Name: "usr/bin/su", Typeflag: tar.TypeReg, Mode: 0o4755})
	if err := checkRootfsTar(bytes.NewReader(ok)); err != nil {
		t.Fatalf("a normal tree: %v", err)
	}
	for _, tt := range []struct {
		name string
		tar  []byte
		want string
	}{
		{"dot-dot", tarOf(t, file("../etc/passwd", "x")), `".."`},
		{"dot-dot inside", tarOf(t, dirHdr("a"), file("a/../../x", "x")), `".."`},
		{"absolute", tarOf(t, file("/etc/passwd", "x")), "absolute"},
		{"through a symlink", tarOf(t, symlink("etc", "/etc"), file("etc/passwd", "x")), "under the symlink etc"},
		{"through a relative symlink", tarOf(t, dirHdr("a"), symlink("a/up", "../.."), file("a/up/x", "x")), "under the symlink a/up"},
		{"deep under a symlink", tarOf(t, symlink("s", "/"), dirHdr("s/d"), file("s/d/x", "x")), "under the symlink s"},
		{"under a file", tarOf(t, file("f", "x"), file("f/x", "x")), "not a directory"},
		{"twice", tarOf(t, file("f", "x"), file("f", "y")), "twice"},
		{"symlink replaced by a dir", tarOf(t, symlink("d", "/"), dirHdr("d")), "twice"},
		{"hard link out", tarOf(t, hardlink("x", "../../etc/shadow")), "bad target"},
		{"hard link absolute", tarOf(t, hardlink("x", "/etc/shadow")), "absolute"},
		{"hard link to missing", tarOf(t, hardlink("x", "etc/shadow")), "not a regular file"},
		{"hard link to a symlink", tarOf(t, symlink("s", "/etc/shadow"), hardlink("x", "s")), "not a regular file"},
		{"hard link to a dir", tarOf(t, dirHdr("d"), hardlink("x", "d")), "not a regular file"},
		{"char device", tarOf(t, &tar.Header{Name: "dev/sda", Typeflag: tar.TypeChar, Devmajor: 8}), "type"},
		{"block device", tarOf(t, &tar.Header{Name: "x", Typeflag: tar.TypeBlock}), "type"},
		{"root is a symlink", tarOf(t, symlink(".", "/")), "root"},
		{"not a tar", []byte(strings.Repeat("x", 1024)), "read"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := checkRootfsTar(bytes.NewReader(tt.tar))
			if errdefs.KindOf(err) != errdefs.InvalidArgument || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("checkRootfsTar = %v, want invalid_argument mentioning %q", err, tt.want)
			}
		})
	}
}

// TestFromTarRoot makes a bootable image from a small tree as root and
// reads it back with debugfs: owners, set-id bits and fifos as the tar
// says, the agent as /sbin/init (no systemd), the identity placeholders.
func TestFromTarRoot(t *testing.T) {
	testtier.Root(t)
	for _, tool := range []string{"mkfs.ext4", "debugfs", "tar"} {
		if _, err := findTool(tool); err != nil {
			t.Skip(err)
		}
	}
	work := t.TempDir()
	tarFile := filepath.Join(work, "rootfs.tar")
	data := tarOf(t, dirHdr("bin"), file("bin/busybox", "not really"), symlink("bin/sh", "busybox"),
		&tar.Header{Name: "home/app", Typeflag: tar.TypeDir, Mode: 0o750, Uid: 1000, Gid: 1000},
		&tar.Header{Name: "home/app/data", Typeflag: tar.TypeReg, Mode: 0o640, Uid: 1000, Gid: 1000},
		&tar.Header{Name: "usr/bin/su", Typeflag: tar.TypeReg, Mode: 0o4755},
		&tar.Header{Name: "run/fifo", Typeflag: tar.TypeFifo, Mode: 0o600, Uid: 7, Gid: 8})
	if err := os.WriteFile(tarFile, data, 0o644); err != nil {
		t.Fatal(err)
	}
	agent := filepath.Join(work, "agent")
	writeELF(t, agent, false)
	dest := filepath.Join(work, "rootfs.ext4")
	// A daemon's umask is private: the directories made for the agent
	// must still be 0755.
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	res, err := FromTar(context.Background(), TarOptions{Tar: tarFile, AgentBinary: agent, Dest: dest}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Init != InitAgent {
		t.Errorf("Init = %q, want %q", res.Init, InitAgent)
	}
	stat := func(p string) string {
		out, err := exec.Command("debugfs", "-R", "stat "+p, dest).CombinedOutput()
		if err != nil {
			t.Fatalf("debugfs stat %s: %v: %s", p, err, out)
		}
		return string(out)
	}
	for p, want := range map[string][]string{
		"/home/app":                   {"User:  1000", "Group:  1000", "Mode:  0750", "Type: directory"},
		"/home/app/data":              {"User:  1000", "Mode:  0640"},
		"/usr/bin/su":                 {"User:     0", "Mode:  04755"},
		"/run/fifo":                   {"Type: FIFO", "User:     7", "Group:     8", "Mode:  0600"},
		"/sbin/init":                  {"Type: symlink", `Fast link dest: "/usr/local/bin/banger-agent"`},
		"/usr/local/bin/banger-agent": {"User:     0", "Mode:  0755"},
		"/etc/banger":                 {"Mode:  0700", "Type: directory"},
		"/sbin":                       {"Mode:  0755", "Type: directory"},
		"/usr/local":                  {"Mode:  0755", "Type: directory"},
		"/etc/hostname":               {"Type: regular"},
	} {
		got := stat(p)
		for _, w := range want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: want %q in\n%s", p, w, got)
			}
		}
	}
	if ents, _ := filepath.Glob(filepath.Join(work, buildPrefix+"*")); len(ents) != 0 {
		t.Errorf("build areas left: %v", ents)
	}
}

// TestFromTarSystemd: an image with systemd (merged /usr, /sbin/init a
// link to it) keeps booting systemd, with the agent as an enabled unit,
// the work disk added to its fstab and an empty machine-id.
func TestFromTarSystemd(t *testing.T) {
	testtier.Root(t)
	for _, tool := range []string{"mkfs.ext4", "debugfs", "tar"} {
		if _, err := findTool(tool); err != nil {
			t.Skip(err)
		}
	}
	work := t.TempDir()
	tarFile := filepath.Join(work, "rootfs.tar")
	data := tarOf(t, dirHdr("usr"), dirHdr("usr/lib"), dirHdr("usr/lib/systemd"), dirHdr("usr/sbin"),
		&tar.Header{Name: "usr/lib/systemd/systemd", Typeflag: tar.TypeReg, Mode: 0o755},
		symlink("lib", "usr/lib"), symlink("sbin", "usr/sbin"), symlink("usr/sbin/init", "../lib/systemd/systemd"),
		dirHdr("etc"), file("etc/fstab", "proc /proc proc defaults 0 0"), file("etc/machine-id", "0123456789abcdef\n"))
	if err := os.WriteFile(tarFile, data, 0o644); err != nil {
		t.Fatal(err)
	}
	agent := filepath.Join(work, "agent")
	writeELF(t, agent, false)
	dest := filepath.Join(work, "rootfs.ext4")
	res, err := FromTar(context.Background(), TarOptions{Tar: tarFile, AgentBinary: agent, Dest: dest}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Init != InitSystemd {
		t.Errorf("Init = %q, want %q", res.Init, InitSystemd)
	}
	cat := func(p string) string {
		out, err := exec.Command("debugfs", "-R", "cat "+p, dest).Output()
		if err != nil {
			t.Fatalf("debugfs cat %s: %v", p, err)
		}
		return string(out)
	}
	stat := func(p string) string {
		out, _ := exec.Command("debugfs", "-R", "stat "+p, dest).CombinedOutput()
		return string(out)
	}
	if got := cat("/etc/fstab"); got != "proc /proc proc defaults 0 0\n"+fstab {
		t.Errorf("/etc/fstab = %q", got)
	}
	if got := cat("/etc/machine-id"); got != "" {
		t.Errorf("/etc/machine-id = %q, want empty", got)
	}
	if got := cat("/etc/systemd/system/banger-agent.service"); got != agentUnit {
		t.Errorf("banger-agent.service = %q", got)
	}
	if got := stat("/etc/systemd/system/multi-user.target.wants/banger-agent.service"); !strings.Contains(got, "Type: symlink") {
		t.Errorf("banger-agent.service is not enabled:\n%s", got)
	}
	if got := stat("/usr/sbin/init"); !strings.Contains(got, `"../lib/systemd/systemd"`) {
		t.Errorf("/sbin/init no longer links to systemd:\n%s", got)
	}
}

// fromTarWorkEnv names the work directory of TestHelperFromTarUnshare.
const fromTarWorkEnv = "BANGER_FROMTAR_TEST_WORK"

// TestHelperFromTarUnshare is not a test: TestFromTarUnshare re-executes
// the test binary as an unprivileged uid to run it. It makes the root
// disk of WORK/rootfs.tar and prints the result.
func TestHelperFromTarUnshare(t *testing.T) {
	work := os.Getenv(fromTarWorkEnv)
	if work == "" {
		t.Skip("helper process for TestFromTarUnshare; runs only when re-executed with " + fromTarWorkEnv)
	}
	agent := filepath.Join(work, "agent")
	writeELF(t, agent, false)
	dest := filepath.Join(work, "rootfs.ext4")
	mode := "root"
	res, err := FromTar(context.Background(), TarOptions{Tar: filepath.Join(work, "rootfs.tar"), AgentBinary: agent, Dest: dest}, func(p Progress) {
		if strings.HasPrefix(p.Detail, "without root") {
			mode = "unshare"
		}
	})
	if err != nil {
		fmt.Printf("RESULT error %s\n", strings.ReplaceAll(err.Error(), "\n", " | "))
		return
	}
	fmt.Printf("RESULT ok %s %s %s\n", mode, res.Init, dest)
}

// TestFromTarUnshare makes a pulled image's root disk as an unprivileged
// user with subordinate ids: the disk must record the tar's owners (ids
// of other users, a fifo's, root's set-uid file) and the injected files
// as root's, as a root daemon's disk does.
func TestFromTarUnshare(t *testing.T) {
	testtier.Root(t) // runs FromTar as another uid
	u, err := user.Lookup(unshareTestUser)
	if err != nil {
		t.Skipf("needs the user %s with subordinate ids (.ci/run makes it)", unshareTestUser)
	}
	for _, tool := range []string{"mkfs.ext4", "tune2fs", "debugfs", "unshare", "newuidmap", "newgidmap", "tar"} {
		if _, err := findTool(tool); err != nil {
			t.Skipf("needs %s: %v", tool, err)
		}
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	dir, err := os.MkdirTemp("", "banger-fromtar-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := peercredtest.Binary(t, dir)
	work := filepath.Join(dir, "work")
	if err := os.Mkdir(work, 0o700); err != nil {
		t.Fatal(err)
	}
	data := tarOf(t, dirHdr("bin"), file("bin/busybox", "not really"),
		&tar.Header{Name: "home/app", Typeflag: tar.TypeDir, Mode: 0o750, Uid: 1000, Gid: 1000},
		&tar.Header{Name: "home/app/data", Typeflag: tar.TypeReg, Mode: 0o640, Uid: 1000, Gid: 1000},
		&tar.Header{Name: "usr/bin/su", Typeflag: tar.TypeReg, Mode: 0o4755},
		&tar.Header{Name: "run/fifo", Typeflag: tar.TypeFifo, Mode: 0o600, Uid: 7, Gid: 8})
	if err := os.WriteFile(filepath.Join(work, "rootfs.tar"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{work, filepath.Join(work, "rootfs.tar")} {
		if err := os.Chown(p, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(bin, "-test.run=^TestHelperFromTarUnshare$", "-test.count=1", "-test.v")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), fromTarWorkEnv+"="+work)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper as %s: %v\n%s", unshareTestUser, err, out)
	}
	var res string
	for _, line := range strings.Split(string(out), "\n") {
		if r, ok := strings.CutPrefix(line, "RESULT "); ok {
			res = r
		}
	}
	img, ok := strings.CutPrefix(res, "ok unshare agent ")
	if !ok {
		t.Fatalf("FromTar as %s = %q, want ok in unshare mode booting the agent\n%s", unshareTestUser, res, out)
	}
	for p, want := range map[string][]string{
		"/home/app":                   {"User:  1000", "Group:  1000", "Mode:  0750"},
		"/home/app/data":              {"User:  1000", "Mode:  0640"},
		"/usr/bin/su":                 {"User:     0", "Mode:  04755"},
		"/run/fifo":                   {"Type: FIFO", "User:     7", "Group:     8"},
		"/usr/local/bin/banger-agent": {"User:     0   Group:     0", "Mode:  0755"},
		"/sbin":                       {"User:     0", "Mode:  0755"},
	} {
		got, err := exec.Command("debugfs", "-R", "stat "+p, img).CombinedOutput()
		if err != nil {
			t.Fatalf("debugfs stat %s: %v", p, err)
		}
		for _, w := range want {
			if !strings.Contains(string(got), w) {
				t.Errorf("%s: want %q in\n%s", p, w, got)
			}
		}
	}
	if left, _ := filepath.Glob(filepath.Join(work, buildPrefix+"*")); len(left) != 0 {
		t.Errorf("build areas left: %v", left)
	}
}
