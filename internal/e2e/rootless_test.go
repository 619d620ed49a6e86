package e2e

import (
	"context"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"banger/internal/imagebuild/imagetest"
	"banger/internal/netnstest"
	"banger/internal/peercred/peercredtest"
	"banger/internal/testtier"
	"banger/internal/vmm/firecracker/fctest"
)

// rootlessUser is the unprivileged account with subordinate ids that the
// rootless image build runs as; .ci/run creates it.
const rootlessUser = "banger-ci"

// TestRootlessImageBuild runs bangerd as an ordinary user (banger-ci, which
// has subordinate ids) and has it build the default image: the daemon
// picks the user-namespace build by itself, in its private state
// directory. The image must equal the root-built one (the cached test
// image) in every path's type, mode (setuid bits included), owner, group,
// symlink target and device numbers: a user namespace that mapped ids
// wrongly, or a missing /dev node, shows up here. Time stamps, sizes,
// contents and inode numbers are ignored (imagetest.Listing): they differ
// between any two builds, root or not.
//
// The world's network namespace has no way out, so the build reaches the
// Debian mirror through an HTTP proxy this test serves inside it (apt
// honours http_proxy).
func TestRootlessImageBuild(t *testing.T) {
	testtier.Guest(t) // builds a Debian image (1-2 minutes, network), compares with the root-built one
	u, err := user.Lookup(rootlessUser)
	if err != nil {
		t.Skipf("needs the user %s with subordinate ids (.ci/run makes it): useradd --system --create-home --home-dir /var/lib/%s %s && usermod --add-subuids 100000-165535 --add-subgids 100000-165535 %s",
			rootlessUser, rootlessUser, rootlessUser, rootlessUser)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	rootImg := imagetest.RootFS(t)

	w := newWorld(t)
	for name, src := range map[string]string{"banger": w.bin.banger, "bangerd-real": w.bin.bangerd} {
		peercredtest.Copy(t, src, w.path("files/"+name))
	}
	agent, err := imagetest.AgentBinary(w.path("files"))
	if err != nil {
		t.Fatal(err)
	}
	kernel := w.path("files/vmlinux")
	fctest.WriteKernel(t, kernel)
	if err := os.Remove(w.path("bin/bangerd")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(w.path("files/bangerd-real"), w.path("bin/bangerd")); err != nil {
		t.Fatal(err)
	}
	w.bin.banger = w.path("files/banger")
	if err := os.Chmod(w.root, 0o755); err != nil { // the world's root is private to root
		t.Fatal(err)
	}
	err = filepath.Walk(w.root, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
	if err != nil {
		t.Fatal(err)
	}
	w.runAs = []string{"setpriv", "--reuid=" + u.Uid, "--regid=" + u.Gid, "--init-groups"}

	proxy := netnstest.ServeProxy(t, w.netns)
	w.startDaemon("BANGER_AGENT_BIN="+agent, "http_proxy=http://"+proxy)
	if out, _, _ := w.banger("doctor"); !strings.Contains(out, "without root (user namespace") {
		t.Errorf("doctor does not say the image build runs without root:\n%s", out)
	}
	w.mustBanger("kernel", "import", kernel, "--name", "default")

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := w.command(ctx, w.bin.banger, "image", "build")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("banger image build as %s: %v\n%s\ndaemon log:\n%s", rootlessUser, err, out, w.daemonLog())
	}
	imgs, _ := filepath.Glob(filepath.Join(w.stateDir(), "images", "*", "rootfs.ext4"))
	if len(imgs) != 1 {
		t.Fatalf("want one built image under %s, found %v\n%s", w.stateDir(), imgs, out)
	}
	if left, _ := filepath.Glob(filepath.Join(w.stateDir(), "images", ".build-*")); len(left) != 0 {
		t.Errorf("the build left %v behind", left)
	}

	want, got := imagetest.Listing(t, rootImg), imagetest.Listing(t, imgs[0])
	if len(want) < 5000 {
		t.Fatalf("the root-built image lists only %d paths", len(want))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("the image bangerd built as %s differs from the root-built one (-root +rootless):\n%s", rootlessUser, diff)
	}
	for _, p := range []string{"/usr/bin/su", "/dev/null", "/etc/shadow", "/var/cache/apt/archives/partial"} {
		t.Logf("%s: %s", p, got[p])
	}
}
