package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"banger/internal/peercred/peercredtest"
	"banger/internal/vmm/firecracker/fctest"
)

// nobody is the unprivileged user the daemon runs as in this test.
const nobody = 65534

// TestUnprivilegedDaemonUsesTheRootHelper runs bangerd as an ordinary user,
// as a system install does, with `bangerd --root-helper` doing the bridge,
// tap and firewall work as root: VMs get taps owned by the user, rules and
// addresses, exactly as with a root daemon.
func TestUnprivilegedDaemonUsesTheRootHelper(t *testing.T) {
	needMkfs(t)
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skip("needs setpriv (util-linux) to run the daemon as another user")
	}
	w := newWorld(t)
	rootfs, kernel, socket := unprivilegedWorld(t, w, "")
	chownTree(t, w.root, nobody)
	// The daemon may bind port 53, as its systemd unit allows.
	w.runAs = []string{"setpriv", fmt.Sprintf("--reuid=%d", nobody), fmt.Sprintf("--regid=%d", nobody), "--clear-groups",
		"--inh-caps=+net_bind_service", "--ambient-caps=+net_bind_service"}

	// Without the helper the daemon serves and says what to start.
	w.startDaemon()
	out, _, _ := w.banger("doctor")
	if !strings.Contains(out, "sudo bangerd --root-helper --allow-uid 65534") {
		t.Errorf("doctor without the root helper does not say how to start it:\n%s", out)
	}
	// nobody has no subordinate ids: the image build says what to run.
	if !strings.Contains(out, "sudo usermod --add-subuids 100000-165535 --add-subgids 100000-165535 nobody") {
		t.Errorf("doctor does not say how to let the user build images:\n%s", out)
	}
	w.stopDaemon()

	startHelper(t, w, socket)
	w.startDaemon()
	w.mustBanger("image", "register", "--name", "default", "--rootfs", rootfs, "--kernel", kernel)
	w.mustBanger(append(createArgs("a", "b"), "--start")...)
	w.mustBanger(append(createArgs("c"), "--start", "--offline")...)
	w.assertNetworkConsistent()
	w.assertNetwork(t, 3)
	for _, tap := range w.taps(t) {
		owner, err := exec.Command("ip", "netns", "exec", w.netns, "cat", "/sys/class/net/"+tap+"/owner").Output()
		if err != nil || strings.TrimSpace(string(owner)) != fmt.Sprint(nobody) {
			t.Errorf("tap %s owner = %q, %v; want %d, the daemon's user", tap, owner, err, nobody)
		}
	}
	// (doctor fails here on /dev/kvm, which the user may not open: fine.)
	if out, _, _ := w.banger("doctor"); !strings.Contains(out, "through the root helper") {
		t.Errorf("doctor does not say the root helper does the host work:\n%s", out)
	}
	w.mustBanger("vm", "stop", "c")
	w.assertNetwork(t, 2)
	w.mustBanger("vm", "delete", "a", "b", "c")
	w.assertNetwork(t, 0)
}

// startHelper runs `bangerd --root-helper` as root in w's namespace, for
// the world's user, with extra flags, until the test ends. It returns the
// helper's pid.
// unprivilegedWorld readies w for a bangerd run as nobody with a root
// helper: the programs, the image and every directory belong to the user,
// the config names the fake Firecracker and the helper's socket (plus
// network, extra lines of the [network] table). It returns the image's
// root filesystem and kernel and the helper's socket; the caller chowns
// the tree once it has added its own files.
func unprivilegedWorld(t *testing.T, w *world, network string) (rootfs, kernel, socket string) {
	t.Helper()
	for name, src := range map[string]string{"banger": w.bin.banger, "bangerd-real": w.bin.bangerd, "firecracker": w.bin.firecracker} {
		peercredtest.Copy(t, src, w.path("files/"+name))
	}
	rootfs, kernel = w.path("files/root.ext4"), w.path("files/vmlinux")
	writeRootFS(t, rootfs)
	fctest.WriteKernel(t, kernel)
	helperDir, err := os.MkdirTemp("", "bgh")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(helperDir) })
	socket = filepath.Join(helperDir, "helper.sock")
	cfg := fmt.Sprintf("[vmm]\ndriver = \"firecracker\"\nfirecracker_bin = %q\nstop_timeout = \"5s\"\n\n[vm]\nvcpus = 1\nmemory = \"128M\"\ndisk_size = \"256M\"\n\n[network]\n%shelper_socket = %q\n",
		w.path("files/firecracker"), network, socket)
	if err := os.WriteFile(w.path("config/banger/config.toml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(w.path("bin/bangerd")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(w.path("files/bangerd-real"), w.path("bin/bangerd")); err != nil {
		t.Fatal(err)
	}
	w.bin.banger = w.path("files/banger")
	return rootfs, kernel, socket
}

func startHelper(t *testing.T, w *world, socket string, extra ...string) int {
	t.Helper()
	logf, err := os.Create(filepath.Join(filepath.Dir(socket), "helper.log"))
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"netns", "exec", w.netns, w.path("files/bangerd-real"),
		"--root-helper", fmt.Sprintf("--allow-uid=%d", nobody), "--bridge=banger0", "--socket=" + socket}, extra...)
	cmd := exec.Command("ip", args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("root helper log:\n%s", b)
		}
	})
	for deadline := time.Now().Add(10 * time.Second); ; {
		if _, err := os.Stat(socket); err == nil {
			return cmd.Process.Pid
		}
		if time.Now().After(deadline) {
			t.Fatalf("the root helper did not make %s", socket)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// taps lists the VM taps in w's namespace.
func (w *world) taps(t *testing.T) []string {
	t.Helper()
	out, err := exec.CommandContext(context.Background(), "ip", "-n", w.netns, "-o", "link", "show").Output()
	if err != nil {
		t.Fatal(err)
	}
	var taps []string
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 1 && strings.HasPrefix(f[1], "bt-") {
			taps = append(taps, strings.TrimSuffix(strings.SplitN(f[1], "@", 2)[0], ":"))
		}
	}
	return taps
}

// chownTree gives root and everything below it to uid.
func chownTree(t *testing.T, root string, uid int) {
	t.Helper()
	err := filepath.Walk(root, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, uid)
	})
	if err != nil {
		t.Fatal(err)
	}
}
