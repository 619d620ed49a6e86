package doctor

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"banger/internal/testtier"
	"banger/internal/vmm"
)

// row is the part of a check a case asserts on: the status and a fragment
// of the detail.
type row struct {
	Status Status
	Detail string // substring of the detail
}

func TestRun(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, h *host, d *Deps)
		want  map[string]row // by check name; rows not listed are not asserted
	}{
		{
			name:  "kvm is /dev/null",
			setup: func(t *testing.T, h *host, d *Deps) {},
			want: map[string]row{
				"kvm":             {StatusFail, "/dev/null does not answer KVM_GET_API_VERSION: inappropriate ioctl for device"},
				"vmm firecracker": {StatusPass, "/usr/bin/firecracker, version 1.7.0"},
				"tool mkfs.ext4":  {StatusPass, "/sbin/mkfs.ext4"},
				"state store":     {StatusPass, "integrity check ok"},
				"runtime dir":     {StatusPass, "is private (0700)"},
				"daemon socket":   {StatusPass, "is private (0600)"},
				"disk space":      {"", "GiB free in "},
				"tool debugfs":    {StatusPass, "/sbin/debugfs"},
				"tool resize2fs":  {StatusPass, "/sbin/resize2fs"},
				"tool e2fsck":     {StatusPass, "/sbin/e2fsck"},
				"tool truncate":   {StatusPass, "/usr/bin/truncate"},
			},
		},
		{
			name: "kvm missing",
			setup: func(t *testing.T, h *host, d *Deps) {
				d.KVMPath = filepath.Join(h.base, "kvm")
			},
			want: map[string]row{"kvm": {StatusFail, "kvm is missing: stat "}},
		},
		{
			name: "kvm is a regular file",
			setup: func(t *testing.T, h *host, d *Deps) {
				d.KVMPath = filepath.Join(h.base, "kvm")
				if err := os.WriteFile(d.KVMPath, nil, 0o666); err != nil {
					t.Fatal(err)
				}
			},
			want: map[string]row{"kvm": {StatusFail, "kvm is not a character device"}},
		},
		{
			name: "kvm is a char device without a driver",
			setup: func(t *testing.T, h *host, d *Deps) {
				d.KVMPath = filepath.Join(h.base, "kvm")
				// Major 240 is reserved for local use, so no driver answers open.
				if err := unix.Mknod(d.KVMPath, unix.S_IFCHR|0o666, int(unix.Mkdev(240, 0))); err != nil {
					t.Skipf("needs root (CAP_MKNOD) to make a character device: %v", err)
				}
				t.Setenv("USER", "dev")
			},
			want: map[string]row{"kvm": {StatusFail, "kvm is not usable: open "}},
		},
		{
			name: "kvm usable",
			setup: func(t *testing.T, h *host, d *Deps) {
				f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
				if err != nil {
					t.Skipf("needs a usable /dev/kvm: %v", err)
				}
				f.Close()
				d.KVMPath = "/dev/kvm"
			},
			want: map[string]row{"kvm": {StatusPass, "/dev/kvm is readable and writable (KVM API 12)"}},
		},
		{
			name: "vmm driver fails",
			setup: func(t *testing.T, h *host, d *Deps) {
				d.Driver = &fakeDriver{err: errors.New("firecracker 1.4.0 is too old: install 1.5 or newer")}
			},
			want: map[string]row{"vmm firecracker": {StatusFail, "firecracker 1.4.0 is too old: install 1.5 or newer"}},
		},
		{
			name: "tool missing",
			setup: func(t *testing.T, h *host, d *Deps) {
				d.Tools = func() []Tool {
					return []Tool{
						{Name: "mkfs.ext4", Path: "/sbin/mkfs.ext4"},
						{Name: "e2fsck", Err: errors.New(`"e2fsck" not found in PATH: install e2fsprogs`)},
					}
				}
			},
			want: map[string]row{
				"tool mkfs.ext4": {StatusPass, "/sbin/mkfs.ext4"},
				"tool e2fsck":    {StatusFail, `"e2fsck" not found in PATH`},
			},
		},
		{
			name: "store fails",
			setup: func(t *testing.T, h *host, d *Deps) {
				d.Store = &fakeStore{err: errors.New("database disk image is malformed")}
			},
			want: map[string]row{"state store": {StatusFail, "database disk image is malformed"}},
		},
		{
			name: "runtime dir missing",
			setup: func(t *testing.T, h *host, d *Deps) {
				d.RuntimeDir = filepath.Join(h.base, "gone")
			},
			want: map[string]row{"runtime dir": {StatusFail, "no such file or directory"}},
		},
		{
			name: "runtime dir group readable",
			setup: func(t *testing.T, h *host, d *Deps) {
				if err := os.Chmod(h.runtimeDir, 0o750); err != nil {
					t.Fatal(err)
				}
			},
			want: map[string]row{
				"runtime dir":   {StatusFail, "and mode 750; want owner"},
				"daemon socket": {StatusPass, ""},
			},
		},
		{
			name: "runtime dir owned by another uid",
			setup: func(t *testing.T, h *host, d *Deps) {
				testtier.Root(t) // chowns the runtime dir to uid 65534
				if err := os.Chown(h.runtimeDir, 65534, 65534); err != nil {
					t.Fatal(err)
				}
			},
			want: map[string]row{"runtime dir": {StatusFail, "has owner 65534 and mode 700; want owner 0 and 0700"}},
		},
		{
			name: "daemon runs as another uid",
			setup: func(t *testing.T, h *host, d *Deps) {
				d.UID = 54321
			},
			want: map[string]row{"runtime dir": {StatusFail, "and mode 700; want owner 54321 and 0700"}},
		},
		{
			name: "runtime dir is a file",
			setup: func(t *testing.T, h *host, d *Deps) {
				d.RuntimeDir = filepath.Join(h.base, "file")
				if err := os.WriteFile(d.RuntimeDir, nil, 0o600); err != nil {
					t.Fatal(err)
				}
			},
			want: map[string]row{"runtime dir": {StatusFail, "file is not a directory"}},
		},
		{
			name: "socket missing",
			setup: func(t *testing.T, h *host, d *Deps) {
				d.Socket = filepath.Join(h.runtimeDir, "other.sock")
			},
			want: map[string]row{"daemon socket": {StatusFail, "no such file or directory"}},
		},
		{
			name: "socket world writable",
			setup: func(t *testing.T, h *host, d *Deps) {
				if err := os.Chmod(h.socket, 0o666); err != nil {
					t.Fatal(err)
				}
			},
			want: map[string]row{"daemon socket": {StatusFail, "bangerd.sock has mode 666; want 0600"}},
		},
		{
			name: "state dir missing",
			setup: func(t *testing.T, h *host, d *Deps) {
				d.StateDir = filepath.Join(h.base, "nostate")
			},
			want: map[string]row{"disk space": {StatusWarn, "no such file or directory"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHost(t)
			driver := &fakeDriver{info: vmm.Info{Binary: "/usr/bin/firecracker", Version: "1.7.0"}}
			d := h.deps(driver, &fakeStore{}, []Tool{
				{Name: "mkfs.ext4", Path: "/sbin/mkfs.ext4"},
				{Name: "debugfs", Path: "/sbin/debugfs"},
				{Name: "resize2fs", Path: "/sbin/resize2fs"},
				{Name: "e2fsck", Path: "/sbin/e2fsck"},
				{Name: "truncate", Path: "/usr/bin/truncate"},
			})
			tt.setup(t, h, &d)

			report := Run(context.Background(), d)
			byName := map[string]Check{}
			anyFail := false
			for _, c := range report.Checks {
				if _, dup := byName[c.Name]; dup {
					t.Errorf("check %q appears twice", c.Name)
				}
				byName[c.Name] = c
				switch c.Status {
				case StatusFail:
					anyFail = true
					if c.Fix == "" {
						t.Errorf("FAIL %s (%s) has no fix", c.Name, c.Detail)
					}
				case StatusPass:
					if c.Fix != "" {
						t.Errorf("PASS %s has fix %q, want none", c.Name, c.Fix)
					}
				case StatusWarn:
				default:
					t.Errorf("check %s has status %q", c.Name, c.Status)
				}
			}
			for name, want := range tt.want {
				c, ok := byName[name]
				if !ok {
					t.Errorf("no check %q in %v", name, report.Checks)
					continue
				}
				if want.Status != "" && c.Status != want.Status {
					t.Errorf("%s: status %s (%s), want %s", name, c.Status, c.Detail, want.Status)
				}
				if !strings.Contains(c.Detail, want.Detail) {
					t.Errorf("%s: detail %q, want it to contain %q", name, c.Detail, want.Detail)
				}
			}
			if got := Failed(report); got != anyFail {
				t.Errorf("Failed = %v, want %v", got, anyFail)
			}
		})
	}
}

func TestRunOrder(t *testing.T) {
	h := newHost(t)
	d := h.deps(&fakeDriver{}, &fakeStore{}, []Tool{{Name: "b", Path: "/b"}, {Name: "a", Path: "/a"}})
	var got []string
	for _, c := range Run(context.Background(), d).Checks {
		got = append(got, c.Name)
	}
	want := []string{"kvm", "vmm firecracker", "tool b", "tool a", "state store", "runtime dir", "daemon socket", "disk space"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("check order (-want +got):\n%s", diff)
	}
}
