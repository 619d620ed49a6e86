package doctor

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

func TestKVMFixes(t *testing.T) {
	base := t.TempDir()
	missing := filepath.Join(base, "missing")
	regular := filepath.Join(base, "regular")
	if err := os.WriteFile(regular, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	// A character device whose major (240, reserved for local use) has no
	// driver: it exists but cannot be opened.
	nodriver := filepath.Join(base, "nodriver")
	mknodErr := unix.Mknod(nodriver, unix.S_IFCHR|0o666, int(unix.Mkdev(240, 0)))
	// ENXIO normally; EACCES when the temporary directory is mounted nodev.
	openErr := errors.New("the device opened")
	if mknodErr == nil {
		if f, err := os.OpenFile(nodriver, os.O_RDWR, 0); err != nil {
			openErr = err
		} else {
			f.Close()
		}
	}
	t.Setenv("USER", "dev")

	tests := []struct {
		name string
		path string
		skip error // skip the case when set
		want Check
	}{
		{
			name: "missing",
			path: missing,
			want: Check{Name: "kvm", Status: StatusFail,
				Detail: missing + " is missing: stat " + missing + ": no such file or directory",
				Fix:    "enable virtualization in the firmware and load the module: sudo modprobe kvm_intel (or kvm_amd)"},
		},
		{
			name: "regular file",
			path: regular,
			want: Check{Name: "kvm", Status: StatusFail, Detail: regular + " is not a character device",
				Fix: "sudo modprobe kvm_intel (or kvm_amd)"},
		},
		{
			name: "char device without driver",
			path: nodriver,
			skip: mknodErr,
			want: Check{Name: "kvm", Status: StatusFail,
				Detail: nodriver + " is not usable: " + openErr.Error(),
				Fix:    "sudo usermod -aG kvm dev, then log in again"},
		},
		{
			name: "char device failing the ioctl",
			path: "/dev/null",
			want: Check{Name: "kvm", Status: StatusFail,
				Detail: "/dev/null does not answer KVM_GET_API_VERSION: inappropriate ioctl for device",
				Fix:    "check that the kvm module is loaded: lsmod | grep kvm"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.skip != nil {
				t.Skipf("needs root (CAP_MKNOD) to make a character device: %v", tt.skip)
			}
			if diff := cmp.Diff(tt.want, kvm(tt.path)); diff != "" {
				t.Errorf("kvm(%s) (-want +got):\n%s", tt.path, diff)
			}
		})
	}
}

func TestFailed(t *testing.T) {
	tests := []struct {
		name   string
		checks []Check
		want   bool
	}{
		{"empty", nil, false},
		{"pass and warn", []Check{{Status: StatusPass}, {Status: StatusWarn}}, false},
		{"one fail", []Check{{Status: StatusPass}, {Status: StatusFail}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Failed(Report{Checks: tt.checks}); got != tt.want {
				t.Errorf("Failed = %v, want %v", got, tt.want)
			}
		})
	}
}
