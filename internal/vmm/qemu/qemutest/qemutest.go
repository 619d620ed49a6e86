// Package qemutest is test support for code that boots real guests under
// the qemu driver: it finds qemu and banger's test kernel, and builds a
// tiny busybox root filesystem whose init script says when the guest is
// ready, lists its block devices, echoes the agent channel back and
// reboots (so qemu exits) on Ctrl-Alt-Delete. Tests that lack a piece
// skip, naming it. Only tests may import it.
package qemutest

import (
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"banger/internal/kernelbuild/kerneltest"
	"banger/internal/testtier"
)

// Markers the guest's init prints on the serial console.
const (
	// Ready is printed once init has set up and trapped Ctrl-Alt-Delete.
	Ready = "BANGER-GUEST-READY"
	// BlocksPrefix starts the line listing /sys/block with each device's
	// size in 512-byte sectors: "blocks: vda:65536 vdb:16384".
	BlocksPrefix = "blocks:"
	// AgentEchoing is printed once the agent channel's echo loop runs.
	AgentEchoing = "BANGER-AGENT-ECHO"
)

// AgentPortName is the agent channel's virtio-serial port name. Without
// udev the guest has no /dev/virtio-ports/<name> link and finds the port
// (/dev/vportNpM) through /sys/class/virtio-ports/*/name.
const AgentPortName = "org.banger.agent"

// KernelEnv names a vmlinux to use instead of building banger's kernel.
const KernelEnv = "BANGER_TEST_KERNEL"

// Binary returns qemu-system-x86_64's path, or skips t: booting guests
// is the guest tier.
func Binary(t testing.TB) string {
	t.Helper()
	testtier.Guest(t)
	p, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		t.Skip("needs qemu-system-x86_64: apt-get install qemu-system-x86")
	}
	return p
}

// Kernel returns the guest kernel: $BANGER_TEST_KERNEL if set, else
// banger's kernel from kerneltest (built on first use).
func Kernel(t testing.TB) string {
	t.Helper()
	testtier.Guest(t)
	if p := os.Getenv(KernelEnv); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s: %v", KernelEnv, err)
		}
		return p
	}
	return kerneltest.Vmlinux(t)
}

// DistroKernel returns Debian's cloud kernel and the initramfs banger
// builds for it (fetched once per machine by kerneltest): a kernel that
// finds its virtio-mmio devices through ACPI only.
func DistroKernel(t testing.TB) (vmlinux, initrd string) {
	t.Helper()
	testtier.Guest(t)
	res := kerneltest.Distro(t)
	return res.Vmlinux, res.Initrd
}

// Init is the guest's /sbin/init: busybox sh as PID 1.
const Init = `#!/bin/sh
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
blocks=
for b in /sys/block/*; do blocks="$blocks ${b##*/}:$(cat $b/size)"; done
echo "` + BlocksPrefix + `$blocks"
trap 'echo banger-guest: ctrl-alt-delete; reboot -f' INT TERM
# Without udev there is no /dev/virtio-ports link: find the port by name.
for p in /sys/class/virtio-ports/*; do
	[ "$(cat $p/name 2>/dev/null)" = ` + AgentPortName + ` ] || continue
	(
		exec 3<>/dev/${p##*/}
		echo "` + AgentEchoing + ` on /dev/${p##*/}"
		# cat ends when the host side disconnects; serve the next one.
		while :; do cat <&3 >&3; sleep 0.1; done
	) &
done
echo ` + Ready + `
while :; do sleep 1; done
`

// commands are the busybox applets Init uses.
var commands = []string{"sh", "mount", "cat", "echo", "sleep", "reboot", "poweroff"}

// Rootfs writes a 32 MiB ext4 image at path holding static busybox and
// Init, made with mkfs.ext4 -d (no mounting).
func Rootfs(t testing.TB, path string) {
	t.Helper()
	busybox := "/bin/busybox"
	if !isStatic(busybox) {
		t.Skip("needs a static /bin/busybox: apt-get install busybox-static")
	}
	mkfs, err := exec.LookPath("mkfs.ext4")
	if err != nil {
		t.Skip("needs mkfs.ext4: apt-get install e2fsprogs")
	}
	tree := t.TempDir()
	for _, d := range []string{"bin", "sbin", "proc", "sys", "dev", "tmp", "root"} {
		mustMkdir(t, filepath.Join(tree, d))
	}
	data, err := os.ReadFile(busybox)
	if err != nil {
		t.Fatalf("read busybox: %v", err)
	}
	mustWrite(t, filepath.Join(tree, "bin", "busybox"), data, 0o755)
	for _, c := range commands {
		if err := os.Symlink("busybox", filepath.Join(tree, "bin", c)); err != nil {
			t.Fatal(err)
		}
	}
	mustWrite(t, filepath.Join(tree, "sbin", "init"), []byte(Init), 0o755)
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, 32<<20); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(mkfs, "-q", "-F", "-d", tree, path).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4 -d: %v\n%s", err, out)
	}
}

// WorkDisk writes an empty 8 MiB raw disk at path.
func WorkDisk(t testing.TB, path string) {
	t.Helper()
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, 8<<20); err != nil {
		t.Fatal(err)
	}
}

// BlockDevices returns the guest's block devices with their sizes in
// sectors from the "blocks:" line of a console log, e.g. ["vda:65536",
// "vdb:16384"].
func BlockDevices(console string) ([]string, error) {
	for _, line := range strings.Split(console, "\n") {
		line = strings.TrimSpace(strings.TrimRight(line, "\r"))
		if rest, ok := strings.CutPrefix(line, BlocksPrefix); ok {
			return strings.Fields(rest), nil
		}
	}
	return nil, fmt.Errorf("no %q line in the console log", BlocksPrefix)
}

// isStatic reports whether path is an ELF executable without an
// interpreter, i.e. runs without a dynamic loader in the guest.
func isStatic(path string) bool {
	f, err := elf.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return false
		}
	}
	return true
}

func mustMkdir(t testing.TB, p string) {
	t.Helper()
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
}

func mustWrite(t testing.TB, p string, data []byte, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(p, data, mode); err != nil {
		t.Fatal(err)
	}
}
