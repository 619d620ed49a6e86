package qemu

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"banger/internal/vmm"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestArgsGolden(t *testing.T) {
	full := vmm.Spec{
		ID: "vm-1", VCPUs: 2, MemoryMiB: 512,
		Kernel: "/k/vmlinux", Initrd: "/k/initrd", BootArgs: "console=ttyS0 reboot=k panic=1 pci=off",
		RootDisk: "/vm/root.ext4", WorkDisk: "/vm/odd,name.ext4", IdentityDisk: "/vm/identity.img",
		Tap: "tap-vm1", MAC: "06:00:ac:10:00:02",
		VsockPath: "/run/vm-1/agent.sock", VsockCID: 3,
		RuntimeDir: "/run/vm-1", ConsoleLog: "/vm/console.log", VMMLog: "/vm/vmm.log",
	}
	minimal := vmm.Spec{
		ID: "vm-2", VCPUs: 1, MemoryMiB: 128, Kernel: "/k/vmlinux",
		RootDisk: "/vm/root.ext4", RuntimeDir: "/run/vm-2",
		ConsoleLog: "/vm/console.log", VMMLog: "/vm/vmm.log",
	}
	acpi := full
	acpi.ACPI = true
	distro := acpi
	distro.KernelHZ = 250
	overlay := minimal
	overlay.RootDiskFormat = vmm.DiskQCOW2
	orig := tscKHz
	tscKHz = func() int { return 2600000 }
	t.Cleanup(func() { tscKHz = orig })
	tests := []struct {
		name    string
		spec    vmm.Spec
		accel   string
		tcgASLR bool
	}{
		{"full-tcg", full, AccelTCG, false},
		{"minimal-kvm", minimal, AccelKVM, false},
		{"acpi-tcg", acpi, AccelTCG, false},
		{"acpi-kvm", acpi, AccelKVM, false},
		{"distro-tcg", distro, AccelTCG, false},
		{"distro-tcg-aslr", distro, AccelTCG, true},
		{"distro-kvm", distro, AccelKVM, false},
		{"qcow2-tcg", overlay, AccelTCG, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := strings.Join(Args(tc.spec, tc.accel, tc.tcgASLR), "\n") + "\n"
			path := filepath.Join("testdata", "args-"+tc.name+".golden")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("read golden file (run with -update to create it): %v", err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("Args mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// The root disk must come before the work disk: the guest names virtio
// block devices in that order (vda, vdb), and the kernel mounts /dev/vda.
func TestArgsRootDiskFirst(t *testing.T) {
	args := strings.Join(Args(vmm.Spec{RootDisk: "/r", WorkDisk: "/w", RuntimeDir: "/run"}, AccelTCG, false), " ")
	root, work := strings.Index(args, "drive="+RootDriveID), strings.Index(args, "drive="+WorkDriveID)
	if root < 0 || work < 0 || root > work {
		t.Errorf("root device at %d, work device at %d in %q; want root first", root, work, args)
	}
}

// TestArgsLPJ: a distribution kernel (KernelHZ known) under TCG gets the
// lpj= its boot CPU computes from the TSC frequency it is given (tsc_khz *
// 1000 / HZ), so its other CPUs skip calibrating; not without the TSC
// frequency (KVM, or unknown) or the HZ. tsc=reliable comes with the TSC
// frequency, under TCG only.
func TestArgsLPJ(t *testing.T) {
	orig := tscKHz
	t.Cleanup(func() { tscKHz = orig })
	for _, tc := range []struct {
		khz, hz int
		accel   string
		want    string
	}{
		{2600000, 250, AccelTCG, " tsc_early_khz=2600000 tsc=reliable lpj=10400000 "},
		{2095076, 250, AccelTCG, " tsc_early_khz=2095076 tsc=reliable lpj=8380304 "},
		{2600000, 1000, AccelTCG, " lpj=2600000 "},
		{2600000, 250, AccelKVM, ""},
		{2600000, 0, AccelTCG, ""},
		{0, 250, AccelTCG, ""},
	} {
		tscKHz = func() int { return tc.khz }
		args := Args(vmm.Spec{ACPI: true, KernelHZ: tc.hz, BootArgs: "console=ttyS0", RootDisk: "/r", RuntimeDir: "/run"}, tc.accel, false)
		cmdline := " " + appendArg(args) + " "
		if tc.want == "" && strings.Contains(cmdline, " lpj=") || tc.want != "" && !strings.Contains(cmdline, tc.want) ||
			strings.Contains(cmdline, " tsc=reliable ") != (tc.accel == AccelTCG && tc.khz > 0) {
			t.Errorf("tsc %d kHz, HZ %d, %s: command line %q, want %q", tc.khz, tc.hz, tc.accel, cmdline, tc.want)
		}
	}
}

// TestArgsNoRandMaps: a guest under TCG boots with norandmaps unless
// vmm.tcg_aslr keeps ASLR; one under KVM never gets the word.
func TestArgsNoRandMaps(t *testing.T) {
	for _, tc := range []struct {
		accel   string
		tcgASLR bool
		want    bool
	}{
		{AccelTCG, false, true},
		{AccelTCG, true, false},
		{AccelKVM, false, false},
		{AccelKVM, true, false},
	} {
		args := Args(vmm.Spec{BootArgs: "console=ttyS0", RootDisk: "/r", RuntimeDir: "/run"}, tc.accel, tc.tcgASLR)
		cmdline := " " + appendArg(args) + " "
		if got := strings.Contains(cmdline, " norandmaps "); got != tc.want {
			t.Errorf("%s, tcg_aslr %v: command line %q has norandmaps: %v, want %v", tc.accel, tc.tcgASLR, cmdline, got, tc.want)
		}
	}
}

// appendArg is the kernel command line in qemu args (-append's value).
func appendArg(args []string) string {
	for i, a := range args {
		if a == "-append" && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

func TestCPUInfoTSCKHz(t *testing.T) {
	const cpu0 = "processor\t: 0\ncpu MHz\t\t: 2600.000\nflags\t\t: fpu tsc constant_tsc nonstop_tsc\n\n"
	for name, tt := range map[string]struct {
		in   string
		want int
	}{
		"constant tsc":    {cpu0 + "processor\t: 1\ncpu MHz\t\t: 800.000\nflags\t\t: constant_tsc\n", 2600000},
		"no constant tsc": {"cpu MHz\t\t: 2600.000\nflags\t\t: fpu tsc\n", 0},
		"no cpu MHz":      {"flags\t\t: constant_tsc\n", 0},
		"garbage":         {"cpu MHz\t\t: fast\nflags\t\t: constant_tsc\n", 0},
		"fractional":      {"cpu MHz\t\t: 2099.998\nflags\t\t: constant_tsc\n", 2099998},
	} {
		if got := cpuinfoTSCKHz(tt.in); got != tt.want {
			t.Errorf("%s: cpuinfoTSCKHz = %d, want %d", name, got, tt.want)
		}
	}
}

func TestOptValue(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/plain/path", "/plain/path"},
		{"/a,b", "/a,,b"},
		{",,", ",,,,"},
	}
	for _, tc := range tests {
		if got := optValue(tc.in); got != tc.want {
			t.Errorf("optValue(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestBootSettings: the driver's boot settings name vmm.tcg_aslr, so warm
// snapshots made with and without it have different keys.
func TestBootSettings(t *testing.T) {
	var _ vmm.BootSettings = (*Driver)(nil)
	off, on := New(Config{}).BootSettings(), New(Config{TCGASLR: true}).BootSettings()
	if off != "tcg_aslr=false" || on != "tcg_aslr=true" {
		t.Errorf("BootSettings = %q and %q, want tcg_aslr=false and tcg_aslr=true", off, on)
	}
}
