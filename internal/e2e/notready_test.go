package e2e

import (
	"strings"
	"testing"
)

// TestRunGuestNeverReady: an image without a guest agent (the fake
// Firecracker boots nothing) never becomes ready. vm run says so within
// its timeout, keeps the VM for a post-mortem despite --rm, and says how
// to look at it.
func TestRunGuestNeverReady(t *testing.T) {
	w := newWorld(t)
	w.startDaemon()
	w.registerImage()
	_, errs, code := w.banger(append([]string{"vm", "run", "--rm", "--timeout", "2s", "--name", "nr"}, append(vmFlags, "--", "true")...)...)
	if code == 0 {
		t.Fatal("vm run succeeded with a guest that has no agent")
	}
	for _, want := range []string{"did not answer within 2s", "banger vm logs nr", "kept VM nr"} {
		if !strings.Contains(errs, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errs)
		}
	}
	if v := w.vm("nr"); v.State != "running" {
		t.Errorf("VM nr is %s, want it kept running for a post-mortem", v.State)
	}
	w.mustBanger("vm", "delete", "nr")
	w.assertClean()
}
