package vm

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"banger/internal/store"
	"banger/internal/vmm"
	"banger/internal/vmm/firecracker/fctest"
)

// TestBootArgs starts a VM (fake Firecracker, which prints the command
// line it boots on the console) on a kernel banger built and then on one
// fetched from the distribution: both skip the crypto self-tests, and only
// the distribution's kernel gets init_on_alloc=0 (kernels.md).
func TestBootArgs(t *testing.T) {
	e := newEnv(t, envOpts{})
	ctx := context.Background()
	cmdline := func(name string) string {
		t.Helper()
		rec := e.record(name)
		b, err := os.ReadFile(filepath.Join(rec.Dir, consoleLogFile))
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if _, after, ok := strings.Cut(line, "Command line: "); ok {
				return after
			}
		}
		t.Fatalf("no command line in the console log of %s:\n%s", name, b)
		return ""
	}
	kernel := store.Kernel{ID: "0123456789abcdef", Name: "default", Vmlinux: e.img.Kernel, Version: "6.1.0-57-cloud-amd64",
		Source: "built", SHA256: strings.Repeat("ab", 32), Size: 1, CreatedAt: time.Now(), Discovery: "cmdline"}
	if err := e.store.CreateKernel(ctx, kernel); err != nil {
		t.Fatal(err)
	}
	e.create("built")
	e.start("built")
	got := " " + cmdline("built") + " "
	if !strings.Contains(got, " cryptomgr.notests ") || !strings.Contains(got, " loglevel=6 ") || strings.Contains(got, "init_on_alloc") || strings.Contains(got, "systemd.mask") || strings.Contains(got, " lsm=") || strings.Contains(got, "mitigations=") {
		t.Errorf("built kernel's command line %q: want cryptomgr.notests, loglevel=6 and none of the distribution kernel's words", got)
	}

	// An image booting a kernel fetched from the distribution.
	distro := kernel
	distro.ID, distro.Name, distro.Source, distro.Vmlinux = "fedcba9876543210", "distro", "distro", filepath.Join(e.root, "vmlinux-distro")
	fctest.WriteKernel(t, distro.Vmlinux)
	if err := e.store.CreateKernel(ctx, distro); err != nil {
		t.Fatal(err)
	}
	img := e.img
	img.ID, img.Name, img.Kernel = NewID(), "distro", distro.Vmlinux
	if err := e.store.CreateImage(ctx, img); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Create(ctx, "", CreateRequest{Name: "distro", Image: "distro", Start: true}, nil); err != nil {
		t.Fatal(err)
	}
	got = " " + cmdline("distro") + " "
	for _, w := range []string{" cryptomgr.notests ", " loglevel=6 ", " init_on_alloc=0 ", " console=ttyS0 ",
		" systemd.mask=sys-kernel-debug.mount ", " systemd.mask=sys-kernel-tracing.mount ", " systemd.mask=dev-hugepages.mount ",
		" 8250.nr_uarts=1 ", " initcall_blacklist=crypto_kdf108_init,init_kprobe_trace ",
		" lsm=landlock,lockdown,yama,integrity ", " mitigations=off ", " randomize_kstack_offset=off ",
		" hardened_usercopy=off ", " psi=0 ", " noautogroup "} {
		if !strings.Contains(got, w) {
			t.Errorf("distro kernel's command line %q lacks %q", got, strings.TrimSpace(w))
		}
	}
}

// TestBootForSource: only a distribution kernel gets its recorded HZ into
// the spec (for lpj=) and the extra words; built and imported kernels and
// files no kernel record has keep their own.
func TestBootForSource(t *testing.T) {
	for _, tc := range []struct {
		source string
		hz     int
		want   vmm.Spec
	}{
		{"distro", 250, vmm.Spec{BootArgs: bootArgs + " " + distroBootArgs, KernelHZ: 250}},
		{"distro", 0, vmm.Spec{BootArgs: bootArgs + " " + distroBootArgs}},
		{"built", 100, vmm.Spec{BootArgs: bootArgs}},
		{"imported", 250, vmm.Spec{BootArgs: bootArgs}},
		{"", 0, vmm.Spec{BootArgs: bootArgs}},
	} {
		spec := vmm.Spec{BootArgs: bootArgs}
		bootForSource(&spec, tc.source, tc.hz)
		if spec.BootArgs != tc.want.BootArgs || spec.KernelHZ != tc.want.KernelHZ {
			t.Errorf("bootForSource(%q, %d) = %q, HZ %d; want %q, HZ %d", tc.source, tc.hz, spec.BootArgs, spec.KernelHZ, tc.want.BootArgs, tc.want.KernelHZ)
		}
	}
}
