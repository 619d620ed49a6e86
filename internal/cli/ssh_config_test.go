package cli

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"banger/internal/api"
)

func TestSSHConfigBlock(t *testing.T) {
	info := api.SSHInfo{IdentityFile: "/home/u/.local/state/banger/ssh/id_ed25519", KnownHostsFile: "/home/u/.local/state/banger/ssh/known_hosts", Domain: "vm"}
	golden(t, "ssh-config.txt", []byte(sshConfigBlock(info, "/usr/bin/banger vm ssh-proxy %h")))
}

func TestSSHArgs(t *testing.T) {
	info := api.SSHInfo{IdentityFile: "/k", KnownHostsFile: "/kh", Domain: "vm"}
	got := sshArgs(info, "banger vm ssh-proxy dev", "dev", []string{"uname", "-a"})
	want := []string{"-i", "/k", "-o", "IdentitiesOnly=yes", "-o", "UserKnownHostsFile=/kh", "-o", "GlobalKnownHostsFile=/dev/null",
		"-o", "StrictHostKeyChecking=yes", "-o", "UpdateHostKeys=no", "-o", "HostKeyAlias=dev.vm", "-o", "User=root",
		"-o", "ProxyCommand=banger vm ssh-proxy dev", "--", "dev.vm", "uname", "-a"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ssh args (-want +got):\n%s", diff)
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{
		"/usr/bin/banger": "/usr/bin/banger",
		"/opt/my dir/b":   "'/opt/my dir/b'",
		"/x/it's":         `'/x/it'\''s'`,
	} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %q, want %q", in, got, want)
		}
	}
}

const inc = "Include /home/u/.config/banger/ssh_config"

func TestInstallInclude(t *testing.T) {
	for _, tc := range []struct {
		name     string
		before   *string
		after    string
		added    bool
		fileMode os.FileMode
	}{
		{"missing file", nil, inc + "\n", true, 0o600},
		{"other content", ptr("Host work\n\tUser me\n"), inc + "\nHost work\n\tUser me\n", true, 0o644},
		{"already present", ptr("Host a\n" + inc + "\n"), "Host a\n" + inc + "\n", false, 0o644},
	} {
		t.Run(tc.name, func(t *testing.T) {
			home := t.TempDir()
			path := filepath.Join(home, ".ssh", "config")
			if tc.before != nil {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(*tc.before), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			added, err := installInclude(path, inc)
			if err != nil {
				t.Fatal(err)
			}
			if added != tc.added {
				t.Errorf("added = %v, want %v", added, tc.added)
			}
			// Twice is the same as once.
			if again, err := installInclude(path, inc); err != nil || again {
				t.Errorf("second install = %v, %v; want false, nil", again, err)
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.after, string(got)); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != tc.fileMode {
				t.Errorf("config mode = %04o, want %04o", fi.Mode().Perm(), tc.fileMode)
			}
			if tc.before == nil {
				di, err := os.Stat(filepath.Dir(path))
				if err != nil {
					t.Fatal(err)
				}
				if di.Mode().Perm() != 0o700 {
					t.Errorf("~/.ssh mode = %04o, want 0700", di.Mode().Perm())
				}
			}
		})
	}
}

func TestUninstallInclude(t *testing.T) {
	for _, tc := range []struct {
		name    string
		before  *string
		after   string
		removed bool
	}{
		{"missing file", nil, "", false},
		{"only the line", ptr(inc + "\n"), "", true},
		{"with other content", ptr(inc + "\nHost work\n\tUser me\n# " + inc + "\nInclude other\n"), "Host work\n\tUser me\n# " + inc + "\nInclude other\n", true},
		{"absent", ptr("Host work\n"), "Host work\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "config")
			if tc.before != nil {
				if err := os.WriteFile(path, []byte(*tc.before), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			removed, err := uninstallInclude(path, inc)
			if err != nil {
				t.Fatal(err)
			}
			if removed != tc.removed {
				t.Errorf("removed = %v, want %v", removed, tc.removed)
			}
			got, err := os.ReadFile(path)
			if tc.before == nil {
				if err == nil {
					t.Errorf("uninstall created %s", path)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.after, string(got)); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
		})
	}
}

func ptr(s string) *string { return &s }
