package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"banger/internal/api"
)

// TestFirecrackerRestoreWithoutParent: under the (fake) Firecracker a VM
// is made from a snapshot after the VM it was taken of was deleted, disks
// and directory included, and the restored firecracker opens only the new
// VM's own disk clones: the snapshot names no file of its parent. The
// fake logs every drive file it opens (FAKEFC_OPENED) with the file the
// open reached.
func TestFirecrackerRestoreWithoutParent(t *testing.T) {
	w := newWorld(t)
	needMkfs(t)
	opened := w.path("fakefc-opened")
	// The fake runs no guest, so no agent to re-identify.
	w.env = append(w.env, "FAKEFC_OPENED="+opened, "BANGERD_TEST_SKIP_STEPS=vm.restore:reidentify")
	w.startDaemon()
	defer w.stopDaemon()
	w.registerImage()

	w.mustBanger(append(createArgs("x"), "--start")...)
	w.mustBanger("vm", "snapshot", "x", "--name", "s")
	parentDir := w.vm("x").Dir
	w.mustBanger("vm", "delete", "x")
	if _, err := os.Stat(parentDir); !os.IsNotExist(err) {
		t.Fatalf("x's directory %s after vm delete: %v; want it gone", parentDir, err)
	}
	if err := os.Remove(opened); err != nil {
		t.Fatalf("the fake logged no drive file for x's boot: %v", err)
	}

	w.mustBanger("vm", "create", "--from-snapshot", "s", "y")
	y := w.vm("y")
	if y.State != api.StateRunning || !alive(y.PID) {
		t.Fatalf("y made from s after x was deleted: %s, pid %d; want running", y.State, y.PID)
	}
	data, err := os.ReadFile(opened)
	if err != nil {
		t.Fatalf("the fake logged no drive file for y's restore: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	// At least the root and work disks, at the load.
	if len(lines) < 2 {
		t.Errorf("the fake logged %q for y's restore; want every drive it opened", lines)
	}
	for _, line := range lines {
		given, reached, ok := strings.Cut(line, "\t")
		if !ok || filepath.IsAbs(given) || !strings.HasPrefix(reached, y.Dir+"/") {
			t.Errorf("y's firecracker opened %q (given as %q); want a relative drive link reaching a file in y's directory %s", reached, given, y.Dir)
		}
		if strings.HasPrefix(reached, parentDir+"/") {
			t.Errorf("y's firecracker opened %s of the deleted parent x", reached)
		}
	}
	w.mustBanger("vm", "delete", "y")
	w.mustBanger("snapshot", "rm", "s")
	w.assertClean()
}
