package e2e

import (
	"os"
	"strings"
	"syscall"
	"testing"
)

// TestImageSwappedForFIFO: an image's root filesystem swapped for a FIFO
// after registration once hung vm create for ever (the VM stuck
// "creating", its lease held, delete blocked). The create now fails at
// once with a message naming the file, leaves no VM behind, and once the
// file is back the same name can be created.
func TestImageSwappedForFIFO(t *testing.T) {
	w := newWorld(t)
	w.registerImage()
	rootfs := w.path("files/root.ext4")
	saved := w.path("files/root.ext4.saved")
	if err := os.Rename(rootfs, saved); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(rootfs, 0o600); err != nil {
		t.Fatal(err)
	}
	args := append(append([]string{"vm", "create"}, vmFlags...), "swapped")
	_, stderr, code := w.banger(args...) // bounded by commandTimeout: a hang fails the test
	if code == 0 {
		t.Fatal("vm create from a FIFO image succeeded")
	}
	for _, s := range []string{rootfs, "named pipe (FIFO), not a regular file"} {
		if !strings.Contains(stderr, s) {
			t.Errorf("stderr %q lacks %q", stderr, s)
		}
	}
	if vms := w.vms(); len(vms) != 0 {
		t.Errorf("VMs after the failed create: %v", vms)
	}
	w.assertNoRunningOperations()
	if err := os.Remove(rootfs); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(saved, rootfs); err != nil {
		t.Fatal(err)
	}
	w.mustBanger(args...)
	if v := w.vm("swapped"); v.State != "stopped" {
		t.Errorf("state = %s, want stopped", v.State)
	}
	w.mustBanger("vm", "delete", "swapped")
}

// TestSpecialConfigFile: a config path that is /dev/zero once grew the
// daemon to gigabytes, and a FIFO hung it silently. The daemon now refuses
// both at once, and the CLI that started it says why.
func TestSpecialConfigFile(t *testing.T) {
	tests := []struct {
		name string
		make func(path string) error
		want string
	}{
		{"fifo", func(p string) error { return syscall.Mkfifo(p, 0o600) }, "named pipe (FIFO), not a regular file"},
		{"dev-zero", func(p string) error { return os.Symlink("/dev/zero", p) }, "character device, not a regular file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			cfg := w.path("config/banger/config.toml")
			if err := os.Remove(cfg); err != nil {
				t.Fatal(err)
			}
			if err := tt.make(cfg); err != nil {
				t.Fatal(err)
			}
			_, stderr, code := w.banger("vm", "list") // bounded by commandTimeout
			if code == 0 {
				t.Fatal("banger vm list succeeded with a special config file")
			}
			for _, s := range []string{cfg, tt.want} {
				if !strings.Contains(stderr, s) {
					t.Errorf("stderr %q lacks %q", stderr, s)
				}
			}
		})
	}
}
