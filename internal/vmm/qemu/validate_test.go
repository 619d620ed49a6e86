package qemu

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"banger/internal/errdefs"
	"banger/internal/vmm"
)

func validSpec(t *testing.T) vmm.Spec {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{"vmlinux", "root.ext4", "work.ext4"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return vmm.Spec{
		ID: "vm-1", VCPUs: 1, MemoryMiB: 128, Kernel: filepath.Join(dir, "vmlinux"),
		RootDisk: filepath.Join(dir, "root.ext4"), WorkDisk: filepath.Join(dir, "work.ext4"),
		Tap: "tap0", MAC: "06:00:00:00:00:01", VsockPath: "/run/b/agent.sock",
		RuntimeDir: "/run/b", ConsoleLog: "/var/b/console.log", VMMLog: "/var/b/vmm.log",
	}
}

func TestValidateLaunch(t *testing.T) {
	tests := []struct {
		name   string
		change func(s *vmm.Spec)
		want   []string // substrings of the error; nil means valid
	}{
		{"valid", func(*vmm.Spec) {}, nil},
		{"missing kernel", func(s *vmm.Spec) { s.Kernel = "/nonexistent/no-such-vmlinux" }, []string{"Kernel: /nonexistent/no-such-vmlinux does not exist"}},
		{"every problem at once", func(s *vmm.Spec) { s.ID = ""; s.VCPUs = 0; s.MemoryMiB = 0; s.RootDisk = "rel" },
			[]string{"ID: is empty", "VCPUs: 0", "MemoryMiB: 0", "RootDisk: \"rel\" is not an absolute path"}},
		{"comma in runtime dir", func(s *vmm.Spec) { s.RuntimeDir = "/run/a,b" }, []string{"contains a ','"}},
		{"long runtime dir", func(s *vmm.Spec) { s.RuntimeDir = "/" + strings.Repeat("r", 120) }, []string{"longer than the 107"}},
		{"bad mac", func(s *vmm.Spec) { s.MAC = "nope" }, []string{"MAC: \"nope\""}},
		{"bad tap", func(s *vmm.Spec) { s.Tap = "tap,x" }, []string{"Tap: \"tap,x\""}},
		{"relative agent socket", func(s *vmm.Spec) { s.VsockPath = "agent.sock" }, []string{"VsockPath"}},
		{"no work disk, no tap, no agent", func(s *vmm.Spec) { s.WorkDisk = ""; s.Tap = ""; s.MAC = ""; s.VsockPath = "" }, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := validSpec(t)
			tc.change(&s)
			err := validateLaunch(s)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("validateLaunch: %v", err)
				}
				return
			}
			if errdefs.KindOf(err) != errdefs.InvalidArgument {
				t.Fatalf("validateLaunch = %v, want an invalid argument", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}
