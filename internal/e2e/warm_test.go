package e2e

import (
	"os"
	"strings"
	"testing"
	"time"

	"banger/internal/api"
	"banger/internal/imagebuild/imagetest"
	"banger/internal/kernelbuild/kerneltest"
)

// warmSnapshots returns the warm-start snapshots by name.
func (w *world) warmSnapshots() map[string]api.Snapshot {
	w.t.Helper()
	out := map[string]api.Snapshot{}
	for n, s := range w.snapshots() {
		if s.Warm {
			out[n] = s
		}
	}
	return out
}

// onlyWarm returns the one warm snapshot, failing when there is not
// exactly one.
func (w *world) onlyWarm() api.Snapshot {
	w.t.Helper()
	warm := w.warmSnapshots()
	if len(warm) != 1 {
		w.t.Fatalf("warm snapshots: %v, want exactly one", warm)
	}
	for _, s := range warm {
		return s
	}
	return api.Snapshot{}
}

// copyFile copies src to a new file dst (a new inode).
func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	tmp := dst + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		t.Fatal(err)
	}
}

// TestGuestWarmStart: image warm makes a warm snapshot by booting a
// builder VM it deletes; vm run then resumes a copy of it (the VM records
// the snapshot it came from) and the command sees the new VM's own
// hostname; --cold boots; once the image's kernel is replaced, vm run
// boots, the stale warm snapshot is removed and a new one is made in the
// background; image rm removes the image's warm snapshots.
func TestGuestWarmStart(t *testing.T) {
	w := newGuestWorldWith(t, "warm_start = true\n", nil)
	// An image of its own, with a kernel file the test can replace.
	kernel := w.path("files/vmlinux")
	if err := os.MkdirAll(w.path("files"), 0o755); err != nil {
		t.Fatal(err)
	}
	copyFile(t, kerneltest.Vmlinux(t), kernel)
	w.mustBanger("image", "register", "--name", "warmimg", "--rootfs", imagetest.RootFS(t), "--kernel", kernel)

	start := time.Now()
	out := w.mustGuestBanger("image", "warm", "warmimg")
	t.Logf("image warm: %s", time.Since(start).Round(time.Millisecond))
	if !strings.HasPrefix(out, "made warm snapshot warm-") {
		t.Errorf("image warm printed %q", out)
	}
	first := w.onlyWarm()
	if first.Image != "warmimg" || first.State != "ready" || first.VCPUs != 2 || first.MemoryMiB != 512 || first.DiskBytes != 1<<30 {
		t.Errorf("warm snapshot = %+v", first)
	}
	if vms := w.vms(); len(vms) != 0 {
		t.Errorf("image warm left VMs: %v", states(vms))
	}
	if out := w.mustGuestBanger("image", "warm", "warmimg"); !strings.HasPrefix(out, "already had warm snapshot "+first.Name) {
		t.Errorf("a second image warm printed %q", out)
	}

	// vm run resumes it.
	out, errs, code := w.guestBanger("", "vm", "run", "--name", "hot", "--image", "warmimg", "--", "cat", "/etc/hostname")
	if code != 0 {
		t.Fatalf("warm vm run -- cat /etc/hostname: exit %d, stdout %q\nstderr: %s\ndaemon log:\n%s", code, out, errs, w.daemonLog())
	}
	if out != "hot\n" {
		t.Errorf("warm vm run -- cat /etc/hostname printed %q, want the new VM's own hostname hot", out)
	}
	if !strings.Contains(errs, "resumed from snapshot "+first.Name) {
		t.Errorf("warm vm run did not say it resumed: %s", errs)
	}
	if v := w.vm("hot"); v.Snapshot != first.Name {
		t.Errorf("hot was made from snapshot %q, want %s", v.Snapshot, first.Name)
	}
	w.mustGuestBanger("vm", "delete", "hot")

	// --cold boots, and makes no warm snapshot.
	out, errs, code = w.guestBanger("", "vm", "run", "--rm", "--cold", "--name", "cold", "--image", "warmimg", "--", "cat", "/etc/hostname")
	if code != 0 || out != "cold\n" || strings.Contains(errs, "resumed") {
		t.Errorf("vm run --cold: exit %d, stdout %q, stderr %s", code, out, errs)
	}

	// The kernel is replaced (a new file at the same path): the warm
	// snapshot is stale. vm run boots, removes it and makes a new one.
	copyFile(t, kerneltest.Vmlinux(t), kernel)
	out, errs, code = w.guestBanger("", "vm", "run", "--rm", "--name", "after", "--image", "warmimg", "--", "cat", "/etc/hostname")
	if code != 0 || out != "after\n" || strings.Contains(errs, "resumed") {
		t.Errorf("vm run after the kernel changed: exit %d, stdout %q, want a boot; stderr %s", code, out, errs)
	}
	if _, ok := w.snapshots()[first.Name]; ok {
		t.Errorf("the stale warm snapshot %s is still there", first.Name)
	}
	var second api.Snapshot
	deadline := time.Now().Add(3 * time.Minute)
	for {
		warm := w.warmSnapshots()
		if len(warm) == 1 {
			for _, s := range warm {
				second = s
			}
			if second.State == "ready" && len(w.vms()) == 0 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no new warm snapshot within 3 minutes of the boot: %v; VMs %v\ndaemon log:\n%s", warm, states(w.vms()), w.daemonLog())
		}
		time.Sleep(time.Second)
	}
	if second.Name == first.Name {
		t.Errorf("the rebuilt warm snapshot has the stale one's name %s: its key did not change", second.Name)
	}

	// image rm takes the image's warm snapshots with it.
	w.mustBanger("image", "rm", "warmimg")
	if warm := w.warmSnapshots(); len(warm) != 0 {
		t.Errorf("warm snapshots left after image rm: %v", warm)
	}
	w.assertClean()
}
