package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"banger/internal/api"
	"banger/internal/imagebuild/imagetest"
	"banger/internal/initramfs"
	"banger/internal/kernelbuild/kerneltest"
	"banger/internal/testtier"
)

// newDistroWorld is a guest world (qemu driver) whose default kernel is
// the distribution's: "banger kernel fetch" takes Debian's cloud kernel
// from the package kerneltest keeps in the test cache (seeded into the
// daemon's own package cache, so nothing is downloaded again), and the
// default image boots it with the initramfs banger built.
func newDistroWorld(t *testing.T) (*world, api.Kernel) {
	t.Helper()
	testtier.Guest(t)
	kerneltest.Distro(t) // the package is in the test cache
	rootfs := imagetest.RootFS(t)
	w := newWorld(t)
	w.writeGuestConfig("vcpus = 2\nmemory = \"512M\"\ndisk_size = \"1G\"\n")
	cache, err := kerneltest.DistroCacheDir()
	if err != nil {
		t.Fatal(err)
	}
	debs, _ := filepath.Glob(filepath.Join(cache, "debs", "*.deb"))
	seed := w.path("cache/banger/kernel-distro/debs")
	if err := os.MkdirAll(seed, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, d := range debs {
		if err := os.Link(d, filepath.Join(seed, filepath.Base(d))); err != nil {
			t.Fatalf("seed the package cache: %v", err)
		}
	}
	w.startDaemon()
	w.mustGuestBanger("kernel", "fetch")
	var k api.Kernel
	if err := json.Unmarshal([]byte(w.mustBanger("kernel", "show", "default", "--json")), &k); err != nil {
		t.Fatal(err)
	}
	w.mustBanger("image", "register", "--name", "default", "--rootfs", rootfs, "--kernel", k.Vmlinux, "--initrd", k.Initrd)
	return w, k
}

// TestGuestDistroKernel boots real guests on Debian's cloud kernel: the
// kernel record says where it came from and that it finds its devices
// through ACPI; a guest comes up with its agent ready, its network up and
// exec working; and a guest whose initramfs lacks a needed module fails
// at once with banger-init's message instead of waiting for the agent.
func TestGuestDistroKernel(t *testing.T) {
	w, k := newDistroWorld(t)
	if k.Source != api.KernelDistro || k.Discovery != "acpi" || !strings.HasPrefix(k.Origin, "distro package linux-image-") || k.Initrd == "" {
		t.Errorf("kernel show default = %+v, want a distro kernel with an initrd, found through ACPI", k)
	}
	if out := w.mustBanger("kernel", "list"); !strings.Contains(out, "distro package linux-image-") {
		t.Errorf("kernel list does not say where the kernel came from:\n%s", out)
	}

	out, errs, code := w.guestBanger("", "vm", "run", "-d", "--name", "d")
	if code != 0 || !strings.Contains(errs, "d ready in") {
		t.Fatalf("vm run -d on the distro kernel: exit %d\nstdout: %s\nstderr: %s\ndaemon log:\n%s", code, out, errs, w.daemonLog())
	}
	out = w.mustGuestBanger("vm", "exec", "d", "--", "sh", "-c",
		"uname -r; for i in /sys/class/net/*; do [ ${i##*/} = lo ] || echo link ${i##*/} $(cat $i/operstate); done; "+
			"awk '$2 == \"00000000\" {print \"default route via \" $1}' /proc/net/route; "+
			"echo serial $(ls /sys/class/tty | grep -c '^ttyS'); "+
			"echo clocksource $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource); "+
			"echo lsm $(cat /sys/kernel/security/lsm); "+
			"echo spectre_v2 $(cat /sys/devices/system/cpu/vulnerabilities/spectre_v2); "+
			"echo pressure $(ls /proc/pressure 2>/dev/null | wc -l); "+
			"systemctl start banger-udev-subsystems.service && udevadm settle; "+
			"echo poll $(cat /sys/module/block/parameters/events_dfl_poll_msecs)")
	// The distribution kernel's extra boot words (internal/vm distroBootArgs)
	// took effect: one serial port, and only the security modules that cost
	// nothing unconfigured (the kernel lists them in its own order).
	for _, want := range []string{k.Version + "\n", " up\n", "default route via ", "serial 1\n", "landlock"} {
		if !strings.Contains(out, want) {
			t.Errorf("guest on the distro kernel: output %q lacks %q", out, want)
		}
	}
	// value is the rest of the output line that starts with key.
	value := func(key string) string {
		for _, line := range strings.Split(out, "\n") {
			if v, ok := strings.CutPrefix(line, key+" "); ok {
				return v
			}
		}
		return ""
	}
	// Under TCG the qemu driver's tsc=reliable keeps the TSC as the
	// clocksource (kvm-clock under KVM), not the 4 ms jiffies.
	if cs := value("clocksource"); cs == "" || strings.Contains(cs, "jiffies") {
		t.Errorf("guest on the distro kernel: clocksource %q, want the TSC (or kvm-clock)", cs)
	}
	if lsm := value("lsm"); strings.Contains(lsm, "apparmor") || strings.Contains(lsm, "tomoyo") || strings.Contains(lsm, "bpf") {
		t.Errorf("guest on the distro kernel: security modules %q, want none of apparmor, tomoyo, bpf", lsm)
	}
	// mitigations=off and psi=0, as the built kernel is configured: no
	// speculation mitigation reported (Vulnerable under TCG, Not affected
	// on a CPU that is not), no /proc/pressure.
	if v := value("spectre_v2"); v == "" || strings.HasPrefix(v, "Mitigation") {
		t.Errorf("guest on the distro kernel: spectre_v2 %q, want no mitigation (mitigations=off)", v)
	}
	if p := value("pressure"); p != "0" {
		t.Errorf("guest on the distro kernel: %s files in /proc/pressure, want none (psi=0)", p)
	}
	// The boot's coldplug leaves out the subsystems' add events and
	// banger-udev-subsystems.service replays them after: Debian's rule for
	// the block module's add event set its media polling default.
	if p := value("poll"); p != "2000" {
		t.Errorf("guest on the distro kernel: block events_dfl_poll_msecs %q after banger-udev-subsystems, want 2000 (the module's add event replayed)", p)
	}
	w.mustGuestBanger("vm", "delete", "d")

	t.Run("missing module", func(t *testing.T) {
		w.t = t
		broken := w.path("files/initrd-no-virtio-blk")
		dropModule(t, k.Initrd, broken, "virtio_blk")
		w.mustBanger("image", "register", "--name", "broken", "--rootfs", imagetest.RootFS(t), "--kernel", k.Vmlinux, "--initrd", broken)
		_, errs, code := w.guestBanger("", "vm", "run", "--rm", "--image", "broken", "--name", "b", "--", "true")
		want := "banger-init: error: module virtio_blk: "
		if code == 0 || !strings.Contains(errs, want) || strings.Contains(errs, "did not answer within") {
			t.Errorf("vm run with virtio_blk missing: exit %d, stderr %q; want banger-init's error, not a timeout", code, errs)
		}
		w.mustGuestBanger("vm", "delete", "b")
	})
	w.t = t
	w.assertClean()
}

// dropModule copies the initramfs at src to dst without the file of
// module name (its name stays in the list banger-init loads).
func dropModule(t *testing.T, src, dst, name string) {
	t.Helper()
	b, err := os.ReadFile(src) // uncompressed, as banger writes it
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	c := initramfs.NewCPIOWriter(&out)
	dropped := false
	for off := 0; ; {
		field := func(i int) int {
			v, err := strconv.ParseUint(string(b[off+6+8*i:off+14+8*i]), 16, 32)
			if err != nil {
				t.Fatalf("newc header at %d: %v", off, err)
			}
			return int(v)
		}
		mode, size, major, minor, namesize := field(1), field(6), field(9), field(10), field(11)
		entry := string(b[off+110 : off+110+namesize-1])
		off = (off + 110 + namesize + 3) &^ 3
		data := b[off : off+size]
		off = (off + size + 3) &^ 3
		perm := os.FileMode(mode & 0o777)
		switch {
		case entry == "TRAILER!!!":
			if !dropped {
				t.Fatalf("%s has no module %s", src, name)
			}
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(dst, out.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			return
		case entry == initramfs.ModuleDir+"/"+name+".ko":
			dropped = true
		case mode&0o170000 == 0o040000:
			err = c.Dir(entry, perm)
		case mode&0o170000 == 0o020000:
			err = c.CharDev(entry, perm, uint32(major), uint32(minor))
		default:
			err = c.File(entry, perm, data)
		}
		if err != nil {
			t.Fatal(fmt.Errorf("rewrite %s: %w", entry, err))
		}
	}
}
