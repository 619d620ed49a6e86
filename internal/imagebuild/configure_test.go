package imagebuild

import (
	"errors"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestConfigure(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, fakeDebianTree)
	// A symlink out of the tree must be replaced, never written through.
	outside := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(outside, []byte("nameserver 10.0.0.1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	writeTree(t, dir, map[string]string{"etc/resolv.conf": "->" + outside})
	agent := []byte("\x7fELF fake agent")

	// A rootless build runs with umask 077: directories configure makes
	// must still be 0755.
	umask := syscall.Umask(0o077)
	err := configure(dir, agent)
	syscall.Umask(umask)
	if err != nil {
		t.Fatalf("configure: %v", err)
	}

	files := []struct {
		name string
		mode os.FileMode
		want string // "" checks only presence and mode
	}{
		{"usr/local/bin/banger-agent", 0o755, string(agent)},
		{"etc/systemd/system/banger-agent.service", 0o644, agentUnit},
		{"etc/systemd/system/banger-hostkeys.service", 0o644, hostKeysUnit},
		{"etc/systemd/system/banger-identity.service", 0o644, identityUnit},
		{"etc/banger/identity-disk", 0o644, identityMarkerText},
		{"etc/systemd/system/banger-root-seed.service", 0o644, rootSeedUnit},
		{"etc/systemd/system/banger-udev-subsystems.service", 0o644, udevSubsystemsUnit},
		{"etc/systemd/system/systemd-udev-trigger.service.d/banger.conf", 0o644, udevTriggerDropIn},
		{"etc/fstab", 0o644, fstab},
		{"etc/machine-id", 0o444, ""},
		{"etc/hostname", 0o644, "banger\n"},
		{"etc/hosts", 0o644, hostsFile},
		{"etc/resolv.conf", 0o644, resolvConf},
		{"etc/ssh/sshd_config.d/banger.conf", 0o644, sshdConfig},
		{"etc/shadow", 0o644, "root:!:20000:0:99999:7:::\ndaemon:*:20000:0:99999:7:::\n"},
	}
	for _, f := range files {
		p := filepath.Join(dir, f.name)
		st, err := os.Lstat(p)
		if err != nil {
			t.Errorf("%s: %v", f.name, err)
			continue
		}
		if got := st.Mode(); got != f.mode {
			t.Errorf("%s: mode %v, want %v", f.name, got, f.mode)
		}
		data, _ := os.ReadFile(p)
		if f.want != "" || f.name == "etc/machine-id" {
			if diff := cmp.Diff(f.want, string(data)); diff != "" {
				t.Errorf("%s (-want +got):\n%s", f.name, diff)
			}
		}
	}
	if got, _ := os.ReadFile(outside); string(got) != "nameserver 10.0.0.1\n" {
		t.Errorf("configure wrote through a symlink out of the tree: %s now holds %q", outside, got)
	}
	if !strings.Contains(fstab, "LABEL=work /root ext4 defaults,nofail") {
		t.Errorf("fstab does not mount the work disk at /root:\n%s", fstab)
	}

	links := map[string]string{
		"etc/systemd/system/multi-user.target.wants/banger-agent.service":           "/etc/systemd/system/banger-agent.service",
		"etc/systemd/system/multi-user.target.wants/banger-hostkeys.service":        "/etc/systemd/system/banger-hostkeys.service",
		"etc/systemd/system/multi-user.target.wants/banger-identity.service":        "/etc/systemd/system/banger-identity.service",
		"etc/systemd/system/multi-user.target.wants/banger-root-seed.service":       "/etc/systemd/system/banger-root-seed.service",
		"etc/systemd/system/multi-user.target.wants/banger-udev-subsystems.service": "/etc/systemd/system/banger-udev-subsystems.service",
		"etc/systemd/system/multi-user.target.wants/ssh.service":                    "/lib/systemd/system/ssh.service",
		"etc/systemd/system/systemd-firstboot.service":                              "/dev/null",
		"etc/systemd/system/timers.target.wants/fstrim.timer":                       "/lib/systemd/system/fstrim.timer",
	}
	for name, want := range links {
		got, err := os.Readlink(filepath.Join(dir, name))
		if err != nil || got != want {
			t.Errorf("%s -> %q (%v), want -> %q", name, got, err, want)
		}
	}

	gone := []string{
		"var/lib/dbus/machine-id",
		"etc/ssh/ssh_host_ed25519_key", "etc/ssh/ssh_host_ed25519_key.pub", "etc/ssh/ssh_host_rsa_key",
		"var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_InRelease",
		"var/cache/apt/pkgcache.bin", "var/cache/apt/archives/git_2.39_amd64.deb",
		"etc/systemd/system/timers.target.wants/apt-daily.timer",
	}
	for _, name := range gone {
		if _, err := os.Lstat(filepath.Join(dir, name)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s still exists (err %v), want it removed", name, err)
		}
	}
	kept := []string{"etc/ssh/sshd_config", "var/lib/apt/lists/lock", "var/cache/apt/archives/lock", "etc/skel/.bashrc"}
	for _, name := range kept {
		if _, err := os.Lstat(filepath.Join(dir, name)); err != nil {
			t.Errorf("%s: %v, want it kept", name, err)
		}
	}
	st, err := os.Stat(filepath.Join(dir, "etc/banger"))
	if err != nil || st.Mode() != fs.ModeDir|0o700 {
		t.Errorf("etc/banger: %v %v, want a 0700 directory", st.Mode(), err)
	}
	st, err = os.Stat(filepath.Join(dir, path.Dir(udevTriggerDropInPath)))
	if err != nil || st.Mode() != fs.ModeDir|0o755 {
		t.Errorf("%s: %v %v, want a 0755 directory", path.Dir(udevTriggerDropInPath), st.Mode(), err)
	}
}

func TestConfigureIsRepeatable(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, fakeDebianTree)
	for i := range 2 {
		if err := configure(dir, []byte("agent")); err != nil {
			t.Fatalf("configure run %d: %v", i+1, err)
		}
	}
}

func TestConfigureFailures(t *testing.T) {
	tests := []struct {
		name    string
		tree    map[string]string
		wantErr string
	}{
		{"no shadow", map[string]string{"etc/ssh/sshd_config": ""}, "lock root's password"},
		{"no root entry", map[string]string{"etc/ssh/sshd_config": "", "etc/shadow": "daemon:*:1:0:::::\n"}, "no root entry"},
		{"no ssh", map[string]string{"etc/shadow": "root:*:1::::::\n"}, "remove SSH host keys"},
		{"fstab is a directory", map[string]string{"etc/fstab/x": "", "etc/shadow": "root:*:1::::::\n"}, "write fstab"},
		{"escaping parent", map[string]string{"usr/local": "->/usr/local"}, "install the agent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeTree(t, dir, tt.tree)
			err := configure(dir, []byte("agent"))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("configure = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
	if _, err := os.Stat("/usr/local/banger-agent"); err == nil {
		t.Errorf("configure wrote /usr/local/banger-agent on the host")
	}
}

func TestLockRootLine(t *testing.T) {
	tests := []struct{ in, want string }{
		{"root:*:1:0:99999:7:::\n", "root:!:1:0:99999:7:::\n"},
		{"root:$6$abc$def:1:0:99999:7:::\nuser:x:1::::::\n", "root:!:1:0:99999:7:::\nuser:x:1::::::\n"},
		{"daemon:*:1::::::\nroot::1::::::", "daemon:*:1::::::\nroot:!:1::::::"},
		{"rootx:*:1::::::\nroot:*:2::::::\n", "rootx:*:1::::::\nroot:!:2::::::\n"},
	}
	for _, tt := range tests {
		got, err := lockRootLine(tt.in)
		if err != nil {
			t.Errorf("lockRootLine(%q): %v", tt.in, err)
			continue
		}
		if got != tt.want {
			t.Errorf("lockRootLine(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
