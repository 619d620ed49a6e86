package e2e

import (
	"debug/elf"
	"encoding/binary"
	"os"
	"os/exec"
	"testing"
)

// vmFlags are the sizes of the VMs the tests create: the smallest the
// daemon accepts, and sparse, so they cost almost nothing.
var vmFlags = []string{"--memory", "128M", "--disk-size", "256M"}

// needMkfs skips the test when mkfs.ext4 is missing.
func needMkfs(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("mkfs.ext4"); err != nil {
		t.Skip("needs mkfs.ext4 (e2fsprogs) to build a root filesystem and work disks")
	}
}

// writeRootFS makes a 16 MiB ext4 file system at path.
func writeRootFS(t *testing.T, path string) {
	t.Helper()
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatalf("create rootfs: %v", err)
	}
	if err := os.Truncate(path, 16<<20); err != nil {
		t.Fatalf("size rootfs: %v", err)
	}
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", path).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4 %s: %v\n%s", path, err, out)
	}
}

// writeKernel writes the smallest x86_64 ELF executable that both the
// daemon's kernel check (class, byte order, machine, one complete PT_LOAD
// segment) and the fake Firecracker accept. fctest.WriteKernel writes only
// the ELF identification bytes, which the fake accepts but
// "banger image register" refuses (machine EM_NONE, no segments).
func writeKernel(t *testing.T, path string) {
	t.Helper()
	const ehsize, phsize = 64, 56
	b := make([]byte, ehsize+phsize)
	le := binary.LittleEndian
	copy(b, elf.ELFMAG)
	b[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	b[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	b[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	le.PutUint16(b[16:], uint16(elf.ET_EXEC))
	le.PutUint16(b[18:], uint16(elf.EM_X86_64))
	le.PutUint32(b[20:], uint32(elf.EV_CURRENT))
	le.PutUint64(b[24:], 0x1000000) // entry
	le.PutUint64(b[32:], ehsize)    // program headers follow the header
	le.PutUint16(b[52:], ehsize)
	le.PutUint16(b[54:], phsize)
	le.PutUint16(b[56:], 1) // one program header
	ph := b[ehsize:]
	le.PutUint32(ph[0:], uint32(elf.PT_LOAD))
	le.PutUint32(ph[4:], uint32(elf.PF_R|elf.PF_X))
	le.PutUint64(ph[16:], 0x1000000)      // vaddr
	le.PutUint64(ph[24:], 0x1000000)      // paddr
	le.PutUint64(ph[32:], uint64(len(b))) // filesz
	le.PutUint64(ph[40:], uint64(len(b))) // memsz
	le.PutUint64(ph[48:], 0x1000)         // align
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatalf("write kernel: %v", err)
	}
}

// registerImage writes a rootfs and kernel and registers them as the
// image "default".
func (w *world) registerImage() {
	w.t.Helper()
	needMkfs(w.t)
	rootfs, kernel := w.path("files/root.ext4"), w.path("files/vmlinux")
	writeRootFS(w.t, rootfs)
	writeKernel(w.t, kernel)
	w.mustBanger("image", "register", "--name", "default", "--rootfs", rootfs, "--kernel", kernel)
}
