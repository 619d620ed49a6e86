package firecracker

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"banger/internal/errdefs"
	"banger/internal/vmm"
)

// specFiles returns a valid spec whose input files exist under a temp dir.
func specFiles(t *testing.T) vmm.Spec {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{"vmlinux", "initrd", "root.ext4", "work.ext4"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(name), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return vmm.Spec{
		ID: "vm-1", VCPUs: 2, MemoryMiB: 256,
		Kernel: filepath.Join(dir, "vmlinux"), Initrd: filepath.Join(dir, "initrd"), BootArgs: "console=ttyS0",
		RootDisk: filepath.Join(dir, "root.ext4"), WorkDisk: filepath.Join(dir, "work.ext4"),
		Tap: "tap0", MAC: "02:00:00:00:00:01",
		VsockPath: filepath.Join(dir, "v.sock"), VsockCID: 3,
		RuntimeDir: filepath.Join(dir, "run"), ConsoleLog: filepath.Join(dir, "console.log"),
		VMMLog: filepath.Join(dir, "vmm.log"), MetricsPath: filepath.Join(dir, "metrics.json"),
	}
}

func TestValidateBoot(t *testing.T) {
	good := vmm.Process{PID: 1, APISocket: "/x/api.sock"}
	tests := []struct {
		name   string
		mutate func(*vmm.Spec, *vmm.Process)
		want   []string // substrings of the error, one per problem
	}{
		{"valid", func(*vmm.Spec, *vmm.Process) {}, nil},
		{"optional-empty", func(s *vmm.Spec, _ *vmm.Process) {
			s.Initrd, s.WorkDisk, s.Tap, s.MAC, s.VsockPath, s.VsockCID, s.MetricsPath = "", "", "", "", "", 0, ""
		}, nil},
		{"missing-kernel", func(s *vmm.Spec, _ *vmm.Process) { s.Kernel += ".missing" }, []string{"Kernel: ", "vmlinux.missing does not exist"}},
		{"every-problem", func(s *vmm.Spec, p *vmm.Process) {
			s.VCPUs, s.MemoryMiB = 0, 0
			s.Kernel, s.RootDisk = "", "relative.ext4"
			s.Initrd = "/nonexistent/initrd"
			s.MAC = "nope"
			s.VsockCID = 2
			p.APISocket = ""
		}, []string{"process: api socket", "VCPUs: 0", "MemoryMiB: 0", "Kernel: is empty", "Initrd: /nonexistent/initrd does not exist",
			`RootDisk: "relative.ext4" is not an absolute path`, `MAC: "nope"`, "VsockCID: 2"}},
		{"long-tap", func(s *vmm.Spec, _ *vmm.Process) { s.Tap = "tap-with-a-long-name" }, []string{"Tap: "}},
		{"too-many-vcpus", func(s *vmm.Spec, _ *vmm.Process) { s.VCPUs = 33 }, []string{"VCPUs: 33"}},
		{"long-vsock", func(s *vmm.Spec, _ *vmm.Process) { s.VsockPath = "/" + strings.Repeat("v", 120) }, []string{"VsockPath: "}},
		{"kernel-is-dir", func(s *vmm.Spec, _ *vmm.Process) { s.Kernel = filepath.Dir(s.Kernel) }, []string{"is not a file"}},
		{"raw-root", func(s *vmm.Spec, _ *vmm.Process) { s.RootDiskFormat = vmm.DiskRaw }, nil},
		{"qcow2-root", func(s *vmm.Spec, _ *vmm.Process) { s.RootDiskFormat = vmm.DiskQCOW2 }, []string{"RootDiskFormat: Firecracker reads raw disks only", `vmm.driver = "qemu"`}},
		{"unknown-format", func(s *vmm.Spec, _ *vmm.Process) { s.RootDiskFormat = "vmdk" }, []string{`RootDiskFormat: "vmdk"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			spec, p := specFiles(t), good
			tc.mutate(&spec, &p)
			err := validateBoot(spec, p)
			checkSpecError(t, err, tc.want)
		})
	}
}

func TestValidateLaunch(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*vmm.Spec)
		want   []string
	}{
		{"valid", func(*vmm.Spec) {}, nil},
		{"bad-id", func(s *vmm.Spec) { s.ID = "vm_1/x" }, []string{"ID: "}},
		{"long-id", func(s *vmm.Spec) { s.ID = strings.Repeat("a", 65) }, []string{"ID: "}},
		{"everything", func(s *vmm.Spec) {
			s.ID, s.RuntimeDir, s.ConsoleLog, s.VMMLog = "", "run", "", ""
		}, []string{"ID: is empty", `RuntimeDir: "run" is not an absolute path`, "ConsoleLog: is empty", "VMMLog: is empty"}},
		{"long-socket", func(s *vmm.Spec) { s.RuntimeDir = "/" + strings.Repeat("r", 100) }, []string{"RuntimeDir: api socket path"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			spec := specFiles(t)
			tc.mutate(&spec)
			checkSpecError(t, validateLaunch(spec), tc.want)
		})
	}
}

func checkSpecError(t *testing.T, err error, want []string) {
	t.Helper()
	if len(want) == 0 {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("no error, want one mentioning %q", want)
	}
	if got := errdefs.KindOf(err); got != errdefs.InvalidArgument {
		t.Errorf("kind = %q, want %q", got, errdefs.InvalidArgument)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error does not mention %q:\n%v", w, err)
		}
	}
}
