package imagebuild_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"banger/internal/disk"
	"banger/internal/imagebuild"
	"banger/internal/imagebuild/imagetest"
	"banger/internal/testtier"
)

// TestRealImage builds (or reuses) the default image from Debian's mirror
// and checks what a VM relies on, reading it with debugfs.
func TestRealImage(t *testing.T) {
	testtier.Guest(t) // builds a Debian image (1-2 minutes, network)
	img := imagetest.RootFS(t)
	if err := disk.IsExt4(img); err != nil {
		t.Fatalf("IsExt4: %v", err)
	}
	st, err := os.Stat(img)
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() < 300<<20 || st.Size() > 2<<30 || st.Size()%(1<<20) != 0 {
		t.Errorf("image size %d bytes, want whole MiB between 300 MiB and 2 GiB", st.Size())
	}
	t.Logf("image %s: %d MiB", img, st.Size()>>20)

	debugfs := func(cmd string) string {
		t.Helper()
		out, err := exec.Command("debugfs", "-R", cmd, img).CombinedOutput()
		if err != nil {
			t.Fatalf("debugfs -R %q: %v\n%s", cmd, err, out)
		}
		return string(out)
	}
	if out := debugfs("stat /usr/local/bin/banger-agent"); !strings.Contains(out, "Mode:  0755") || !strings.Contains(out, "Type: regular") {
		t.Errorf("agent binary is not a 0755 regular file:\n%s", out)
	}
	if out := debugfs("stat /etc/systemd/system/multi-user.target.wants/banger-agent.service"); !strings.Contains(out, `Fast link dest: "/etc/systemd/system/banger-agent.service"`) {
		t.Errorf("agent unit not enabled:\n%s", out)
	}
	if out := debugfs("cat /etc/systemd/system/banger-agent.service"); !strings.Contains(out, "ExecStart=/usr/local/bin/banger-agent") {
		t.Errorf("agent unit:\n%s", out)
	}
	if out := debugfs("stat /etc/systemd/system/multi-user.target.wants/banger-identity.service"); !strings.Contains(out, `Fast link dest: "/etc/systemd/system/banger-identity.service"`) {
		t.Errorf("identity unit not enabled:\n%s", out)
	}
	if out := debugfs("stat " + imagebuild.IdentityMarker); !strings.Contains(out, "Type: regular") {
		t.Errorf("identity disk marker missing:\n%s", out)
	}
	if out := debugfs("cat /etc/fstab"); !strings.Contains(out, "LABEL=work /root ext4 defaults,nofail") {
		t.Errorf("fstab does not mount the work disk:\n%s", out)
	}
	if out := debugfs("stat /etc/machine-id"); !strings.Contains(out, "Size: 0") {
		t.Errorf("machine-id is not empty:\n%s", out)
	}
	if out := debugfs("ls /etc/ssh"); strings.Contains(out, "ssh_host_") {
		t.Errorf("image carries SSH host keys:\n%s", out)
	}
	if out := debugfs("ls /usr/sbin"); !strings.Contains(out, "sshd") {
		t.Errorf("openssh-server missing:\n%s", out)
	}
	for _, bin := range []string{"/usr/bin/git", "/usr/bin/curl", "/usr/bin/sudo", "/usr/bin/ssh-keygen", "/lib/systemd/systemd"} {
		if out := debugfs("stat " + bin); !strings.Contains(out, "Type: regular") {
			t.Errorf("%s missing:\n%s", bin, out)
		}
	}
	if out := debugfs("cat /etc/shadow"); !strings.HasPrefix(out, "root:!:") && !strings.Contains(out, "\nroot:!:") {
		t.Errorf("root's password is not locked")
	}
	if out, err := exec.Command("e2fsck", "-fn", img).CombinedOutput(); err != nil {
		t.Errorf("e2fsck -fn: %v\n%s", err, out)
	}
}
