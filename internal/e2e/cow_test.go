package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"banger/internal/api"
	"banger/internal/imagebuild/imagetest"
)

// TestGuestLoopXFS boots real guests whose root disks are reflink clones
// on banger's loop-mounted XFS file: each guest sees only its own writes,
// deleting VMs works, and when the daemon and its VMs are gone the loop
// device goes with them (the daemon runs under ip netns exec, in a mount
// namespace of its own).
func TestGuestLoopXFS(t *testing.T) {
	if _, err := exec.LookPath("mkfs.xfs"); err != nil {
		t.Skip("needs mkfs.xfs (apt-get install xfsprogs)")
	}
	var file string
	// Registered first, so it runs after the world's cleanup.
	t.Cleanup(func() {
		if file == "" {
			return
		}
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			loops := loopsBacking(file)
			if len(loops) == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("loop devices %v still back %s after the world ended", loops, file)
				return
			}
		}
	})
	w := newGuestWorldWith(t, "disk_strategy = \"loop-xfs\"\n", nil)
	file = filepath.Join(w.stateDir(), "cow.xfs")
	var info api.SystemInfo
	w.decode(w.mustBanger("system", "info", "--json"), &info)
	if info.DiskStrategy != "loop-xfs" {
		t.Fatalf("disk strategy %q (%s), want loop-xfs", info.DiskStrategy, info.DiskStrategyWhy)
	}

	for _, name := range []string{"a", "b"} {
		if out, errs, code := w.guestBanger("", "vm", "run", "-d", "--name", name); code != 0 {
			t.Fatalf("vm run -d %s: exit %d, stdout %q, stderr %s", name, code, out, errs)
		}
	}
	w.mustGuestBanger("vm", "exec", "a", "--", "sh", "-c", "echo from-a > /var/tmp/mine && sync")
	out := w.mustGuestBanger("vm", "exec", "b", "--", "sh", "-c", "cat /var/tmp/mine 2>/dev/null || echo absent; hostname")
	if out != "absent\nb\n" {
		t.Errorf("in b: %q, want a's file absent and b's own hostname", out)
	}
	if out := w.mustGuestBanger("vm", "exec", "a", "--", "cat", "/var/tmp/mine"); out != "from-a\n" {
		t.Errorf("a's own write: %q", out)
	}
	if v := w.vm("a"); !strings.HasPrefix(v.Dir, filepath.Join(w.stateDir(), "cow", "vms")+"/") {
		t.Errorf("VM directory %s, not on the XFS file", v.Dir)
	}
	w.mustGuestBanger("vm", "delete", "a", "b")
	w.assertClean()
}

// loopsBacking lists the loop devices whose backing file is file.
func loopsBacking(file string) []string {
	matches, _ := filepath.Glob("/sys/block/loop*/loop/backing_file")
	var out []string
	for _, m := range matches {
		if b, err := os.ReadFile(m); err == nil && strings.TrimSpace(string(b)) == file {
			out = append(out, m)
		}
	}
	return out
}

// TestGuestQCOW2 boots real guests whose root disks are qcow2 overlays of
// the image (vm.disk_strategy = "qcow2", qemu): each overlay is a small
// file backed by the raw image, each guest sees only its own writes, which
// survive a stop and start (the format reaches qemu at every start); a
// snapshot of a running guest keeps the overlay as it was, and deleting
// the VMs leaves nothing.
func TestGuestQCOW2(t *testing.T) {
	if _, err := exec.LookPath("qemu-img"); err != nil {
		t.Skip("needs qemu-img (apt-get install qemu-utils)")
	}
	w := newGuestWorldWith(t, "disk_strategy = \"qcow2\"\n", nil)
	var info api.SystemInfo
	w.decode(w.mustBanger("system", "info", "--json"), &info)
	if info.DiskStrategy != "qcow2" || !strings.Contains(info.DiskStrategyWhy, "qemu") {
		t.Fatalf("disk strategy %q (%s), want qcow2", info.DiskStrategy, info.DiskStrategyWhy)
	}
	for _, name := range []string{"a", "b"} {
		if out, errs, code := w.guestBanger("", "vm", "run", "-d", "--name", name); code != 0 {
			t.Fatalf("vm run -d %s: exit %d, stdout %q, stderr %s\ndaemon log:\n%s", name, code, out, errs, w.daemonLog())
		}
	}
	rootA := filepath.Join(w.vm("a").Dir, "root.ext4")
	img := qemuImgInfo(t, imagetest.RootFS(t))
	got := qemuImgInfo(t, rootA)
	if got.Format != "qcow2" || got.BackingFilename != imagetest.RootFS(t) || got.BackingFormat != "raw" || got.VirtualSize != img.VirtualSize {
		t.Errorf("root disk of a: %+v, want a qcow2 overlay of %s (raw, %d bytes)", got, imagetest.RootFS(t), img.VirtualSize)
	}
	if got.ActualSize >= img.ActualSize/2 {
		t.Errorf("the overlay of a booted guest takes %d bytes, the image %d: not an overlay's size", got.ActualSize, img.ActualSize)
	}

	w.mustGuestBanger("vm", "exec", "a", "--", "sh", "-c", "echo from-a > /var/tmp/mine && sync")
	if out := w.mustGuestBanger("vm", "exec", "b", "--", "sh", "-c", "cat /var/tmp/mine 2>/dev/null || echo absent; hostname"); out != "absent\nb\n" {
		t.Errorf("in b: %q, want a's file absent and b's own hostname", out)
	}
	w.mustGuestBanger("vm", "stop", "a")
	w.mustGuestBanger("vm", "start", "a")
	if out := w.mustGuestBanger("vm", "exec", "a", "--", "cat", "/var/tmp/mine"); out != "from-a\n" {
		t.Errorf("a's own write after a stop and start: %q", out)
	}

	// A snapshot copies the overlay: the guest's later writes stay out.
	w.mustGuestBanger("vm", "snapshot", "a", "--name", "a-snap")
	w.mustGuestBanger("vm", "exec", "a", "--", "sh", "-c", "echo after > /var/tmp/mine && sync")
	s, ok := w.snapshots()["a-snap"]
	if !ok {
		t.Fatal("no snapshot a-snap")
	}
	snapRoot := filepath.Join(w.stateDir(), "snapshots", s.ID, "root.ext4")
	if got := qemuImgInfo(t, snapRoot); got.Format != "qcow2" || got.BackingFilename != imagetest.RootFS(t) {
		t.Errorf("the snapshot's root disk: %+v, want a qcow2 overlay of the image", got)
	}
	raw := filepath.Join(t.TempDir(), "snap-root.raw")
	if out, err := exec.Command("qemu-img", "convert", "-U", "-f", "qcow2", "-O", "raw", snapRoot, raw).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img convert: %v: %s", err, out)
	}
	// debugfs reads what is checkpointed: replay the journal first (on
	// the copy; exit 1 is "fixed").
	if out, err := exec.Command("e2fsck", "-fy", raw).CombinedOutput(); err != nil {
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() > 1 {
			t.Fatalf("e2fsck of the snapshot's root disk: %v: %s", err, out)
		}
	}
	out, err := exec.Command("debugfs", "-R", "cat /var/tmp/mine", raw).Output()
	if err != nil || string(out) != "from-a\n" {
		t.Errorf("/var/tmp/mine in the snapshot's root disk = %q, %v; want the file as it was when saved", out, err)
	}
	// A VM made from the snapshot resumes on a qcow2 overlay of its own
	// (the format reaches qemu's restore as it reaches a start).
	w.mustGuestBanger("vm", "create", "--from-snapshot", "a-snap", "c")
	if got := qemuImgInfo(t, filepath.Join(w.vm("c").Dir, "root.ext4")); got.Format != "qcow2" || got.BackingFilename != imagetest.RootFS(t) {
		t.Errorf("root disk of c, made from a-snap: %+v, want a qcow2 overlay of the image", got)
	}
	if out := w.mustGuestBanger("vm", "exec", "c", "--", "sh", "-c", "cat /var/tmp/mine; hostname"); out != "from-a\nc\n" {
		t.Errorf("in c, made from a-snap: %q, want a's file as saved and c's own hostname", out)
	}
	w.mustGuestBanger("vm", "delete", "c")
	w.mustBanger("snapshot", "rm", "a-snap")
	w.mustGuestBanger("vm", "delete", "a", "b")
	w.assertClean()
}

// imgInfo is what qemu-img reads of a disk.
type imgInfo struct {
	Format          string `json:"format"`
	VirtualSize     int64  `json:"virtual-size"`
	ActualSize      int64  `json:"actual-size"`
	BackingFilename string `json:"backing-filename"`
	BackingFormat   string `json:"backing-filename-format"`
}

// qemuImgInfo is qemu-img info of the disk at path.
func qemuImgInfo(t *testing.T, path string) imgInfo {
	t.Helper()
	out, err := exec.Command("qemu-img", "info", "-U", "--output=json", path).Output()
	if err != nil {
		t.Fatalf("qemu-img info %s: %v", path, err)
	}
	var i imgInfo
	if err := json.Unmarshal(out, &i); err != nil {
		t.Fatalf("qemu-img info %s: %v: %s", path, err, out)
	}
	return i
}

// TestUnprivilegedDaemonAutoLoopXFS runs bangerd as an ordinary user with
// the root helper started with --cow-dir set to its state directory (the
// admin's consent to the mount), and vm.disk_strategy left at auto: the
// state directory (ext4) cannot clone, so bangerd makes its XFS file and
// the helper mounts it; VM directories go on it. A restarted bangerd finds
// the mount (one loop device, not two). bangerd runs in the helper's mount
// namespace, as two systemd units without PrivateMounts do.
func TestUnprivilegedDaemonAutoLoopXFS(t *testing.T) {
	needMkfs(t)
	for _, tool := range []string{"setpriv", "nsenter", "mkfs.xfs"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s", tool)
		}
	}
	var file string
	// Registered first, so it runs after the world's cleanup: when the
	// helper and the daemon are gone, so is the mount namespace holding
	// the mount, and the loop device with it.
	t.Cleanup(func() {
		if file == "" {
			return
		}
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			loops := loopsBacking(file)
			if len(loops) == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("loop devices %v still back %s after the world ended", loops, file)
				return
			}
		}
	})
	w := newWorld(t)
	rootfs, kernel, socket := unprivilegedWorld(t, w, "enabled = false\n")
	if err := os.MkdirAll(w.stateDir(), 0o700); err != nil {
		t.Fatal(err)
	}
	chownTree(t, w.root, nobody)
	file = filepath.Join(w.stateDir(), "cow.xfs")
	pid := startHelper(t, w, socket, "--cow-dir="+w.stateDir())
	w.runAs = []string{"nsenter", fmt.Sprintf("--target=%d", pid), "--mount", "--",
		"setpriv", fmt.Sprintf("--reuid=%d", nobody), fmt.Sprintf("--regid=%d", nobody), "--clear-groups"}

	w.startDaemon()
	var info api.SystemInfo
	w.decode(w.mustBanger("system", "info", "--json"), &info)
	if info.DiskStrategy != "loop-xfs" || !strings.Contains(info.DiskStrategyWhy, "root helper") {
		t.Fatalf("disk strategy %q (%s), want loop-xfs through the root helper\ndaemon log:\n%s", info.DiskStrategy, info.DiskStrategyWhy, w.daemonLog())
	}
	if out, _, _ := w.banger("doctor"); !strings.Contains(out, "loop-xfs") {
		t.Errorf("doctor does not show the disk strategy:\n%s", out)
	}
	st, err := os.Stat(file)
	if err != nil || st.Sys().(*syscall.Stat_t).Uid != nobody {
		t.Errorf("the XFS file: %v, %v; want it made by the daemon's user", st, err)
	}
	w.mustBanger("image", "register", "--name", "default", "--rootfs", rootfs, "--kernel", kernel)
	w.mustBanger(append(createArgs("a"), "--start")...)
	if v := w.vm("a"); !strings.HasPrefix(v.Dir, filepath.Join(w.stateDir(), "cow", "vms")+"/") {
		t.Errorf("VM directory %s, not on the XFS file", v.Dir)
	}

	w.stopDaemon()
	w.startDaemon()
	w.decode(w.mustBanger("system", "info", "--json"), &info)
	if info.DiskStrategy != "loop-xfs" || !strings.Contains(info.DiskStrategyWhy, "is mounted on") {
		t.Errorf("after a restart: %q (%s), want the mount found", info.DiskStrategy, info.DiskStrategyWhy)
	}
	if n := len(loopsBacking(file)); n != 1 {
		t.Errorf("after a restart the XFS file backs %d loop devices, want 1", n)
	}
	w.mustBanger(append(createArgs("b"), "--start")...)
	w.mustBanger("vm", "delete", "a", "b")
	w.assertClean()
}
