package e2e

import (
	"encoding/json"
	"testing"
)

// checkIdentityDisk checks, in running guest vm of a world whose default
// image was built by banger, that the identity came on the identity disk:
// the image is recorded as reading it, the identity unit ran, the disk is
// a read-only block device, the hostname and token are installed (the
// token 0600 and absent from the kernel command line).
func checkIdentityDisk(t *testing.T, w *world, vm string) {
	t.Helper()
	var imgs []struct {
		Name     string `json:"name"`
		Identity string `json:"identity"`
	}
	if err := json.Unmarshal([]byte(w.mustBanger("image", "list", "--json")), &imgs); err != nil {
		t.Fatalf("image list --json: %v", err)
	}
	if len(imgs) != 1 || imgs[0].Identity != "disk" {
		t.Errorf("images %+v: want the built default image recorded as reading the identity disk", imgs)
	}
	script := `hostname
stat -c %a /etc/banger/agent-token
if grep -qF "$(cat /etc/banger/agent-token)" /proc/cmdline; then echo token-on-cmdline; else echo token-not-on-cmdline; fi
systemctl is-active banger-identity.service
for d in /sys/block/vd*; do echo "$(basename $d) ro=$(cat $d/ro)"; done
`
	out := w.mustGuestBanger("vm", "exec", vm, "--", "sh", "-c", script)
	want := vm + "\n600\ntoken-not-on-cmdline\nactive\nvda ro=0\nvdb ro=0\nvdc ro=1\n"
	if out != want {
		t.Errorf("identity in the guest:\n%s\nwant:\n%s", out, want)
	}
}
