package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"banger/internal/api"
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
