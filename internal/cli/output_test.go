package cli

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"banger/internal/api"
	"banger/internal/client"
	"banger/internal/errdefs"
)

// golden compares got with testdata/name, rewriting it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s differs (-want +got):\n%s", name, diff)
	}
}

var now = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

var sampleVMs = []api.VM{
	{ID: "0123456789abcdef", Name: "web", State: api.StateRunning, Image: "default", VCPUs: 2, MemoryMiB: 1024,
		DiskBytes: 8 << 30, Driver: "firecracker", PID: 4242, Dir: "/state/vms/0123456789abcdef",
		CreatedAt: now.Add(-3 * time.Hour), StartedAt: now.Add(-2 * time.Minute),
		Workspace: &api.Workspace{HostPath: "/home/dev/src/web", GuestPath: "/root/web", BaseCommit: "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c",
			Branch: "main", PreparedAt: now.Add(-time.Minute)}},
	{ID: "fedcba9876543210", Name: "brave-otter", State: api.StateStopped, Image: "default", VCPUs: 1, MemoryMiB: 512,
		DiskBytes: 1536 << 20, Driver: "firecracker", Dir: "/state/vms/fedcba9876543210", CreatedAt: now.Add(-72 * time.Hour)},
	{ID: "00000000000000aa", Name: "broken", State: api.StateError, Image: "default", VCPUs: 1, MemoryMiB: 128,
		DiskBytes: 256 << 20, Driver: "firecracker", LastError: "kill-vmm: operation not permitted", CreatedAt: now.Add(-30 * time.Second)},
}

func TestVMTable(t *testing.T) {
	var buf bytes.Buffer
	if err := table(&buf, vmHeader, vmRows(now, sampleVMs)); err != nil {
		t.Fatal(err)
	}
	golden(t, "vm-list.txt", buf.Bytes())
}

func TestVMJSON(t *testing.T) {
	var buf bytes.Buffer
	if err := writeJSON(&buf, sampleVMs); err != nil {
		t.Fatal(err)
	}
	golden(t, "vm-list.json", buf.Bytes())
}

func TestImageTable(t *testing.T) {
	imgs := []api.Image{{ID: "1111111111111111", Name: "default", RootFS: "/img/rootfs.ext4", RootFSSize: 300 << 20,
		Kernel: "/img/vmlinux", CreatedAt: now.Add(-5 * time.Minute), State: api.ImageReady},
		{ID: "2222222222222222", Name: "debian-12", RootFS: "/img/x/rootfs.tar", RootFSSize: 120 << 20, State: api.ImagePulled,
			Source: "index.docker.io/library/debian:12", CreatedAt: now.Add(-time.Minute)}}
	var buf bytes.Buffer
	if err := table(&buf, imageHeader, imageRows(now, imgs)); err != nil {
		t.Fatal(err)
	}
	golden(t, "image-list.txt", buf.Bytes())
}

func TestDoctorOutput(t *testing.T) {
	var out bytes.Buffer
	a := &app{env: Env{Stdout: &out}}
	printDoctor(a, api.DoctorReport{Checks: []api.Check{
		{Name: "kvm", Status: api.CheckPass, Detail: "/dev/kvm is readable and writable (KVM API 12)"},
		{Name: "vmm firecracker", Status: api.CheckFail, Detail: "firecracker 1.4.0 is too old", Fix: "install Firecracker 1.5 or newer"},
		{Name: "disk space", Status: api.CheckWarn, Detail: "1.0 GiB free", Fix: "free space"},
		{Name: "socket", Status: api.CheckFail, Detail: "/run/banger/bangerd.sock:\n  mode 0666, want 0600\n  owner 1001, want 0\n", Fix: "chmod 0600 /run/banger/bangerd.sock\nchown root /run/banger/bangerd.sock"},
		{Name: "state", Status: api.CheckPass, Detail: "ok"},
	}})
	golden(t, "doctor.txt", out.Bytes())
}

func TestPrintError(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"plain", errors.New("boom"), "banger: boom\n"},
		{"joined", errors.Join(errors.New("rootfs: bad"), errors.New("kernel: bad")), "banger: rootfs: bad\n  kernel: bad\n"},
		{"internal names op", &client.OpError{OpID: "op-1", Err: &errdefs.Error{Kind: errdefs.Internal, Msg: "disk exploded"}},
			"banger: disk exploded (operation op-1 in the bangerd log)\n"},
		{"user error hides op", &client.OpError{OpID: "op-2", Err: &errdefs.Error{Kind: errdefs.NotFound, Msg: "no VM named \"x\""}},
			"banger: no VM named \"x\"\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			printError(&buf, tc.err)
			if got := buf.String(); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestSince(t *testing.T) {
	tests := []struct {
		ago  time.Duration
		want string
	}{{5 * time.Second, "5s"}, {3 * time.Minute, "3m"}, {5 * time.Hour, "5h"}, {96 * time.Hour, "4d"}}
	for _, tc := range tests {
		if got := since(now, now.Add(-tc.ago)); got != tc.want {
			t.Errorf("since(%v) = %q, want %q", tc.ago, got, tc.want)
		}
	}
	if got := since(now, time.Time{}); got != "-" {
		t.Errorf("since(zero) = %q", got)
	}
}

func TestHumanBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB", 100 << 20: "100.0 MiB", 3 << 30: "3.0 GiB"} {
		if got := humanBytes(n); got != want {
			t.Errorf("humanBytes(%d) = %q, want %q", n, got, want)
		}
	}
}
