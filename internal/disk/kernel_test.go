package disk

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"banger/internal/errdefs"
)

// bzImage fabricates a bzImage of size bytes whose header claims
// claimedSize bytes, with the given boot protocol version and loadflags.
func bzImage(size, claimedSize int, version uint16, loadflags byte) []byte {
	b := make([]byte, size)
	const setupSects = 4
	b[bootOffSetupSects] = setupSects
	binary.LittleEndian.PutUint32(b[bootOffSyssize:], uint32((claimedSize-(setupSects+1)*512+15)/16))
	binary.LittleEndian.PutUint16(b[bootOffBootFlag:], bootFlag)
	copy(b[bootOffHeader:], "HdrS")
	binary.LittleEndian.PutUint16(b[bootOffVersion:], version)
	b[bootOffLoadflags] = loadflags
	return b
}

// elfWith returns a copy of an ELF file with header bytes replaced.
func elfWith(t *testing.T, src []byte, off int, b ...byte) []byte {
	t.Helper()
	out := append([]byte(nil), src...)
	copy(out[off:], b)
	return out
}

// stripSections removes an ELF file's section header table reference, as
// in a stripped kernel, so only program headers describe it.
func stripSections(t *testing.T, src []byte) []byte {
	t.Helper()
	out := elfWith(t, src, 0x28, 0, 0, 0, 0, 0, 0, 0, 0) // e_shoff
	return elfWith(t, out, 0x3C, 0, 0, 0, 0)             // e_shnum, e_shstrndx
}

func TestDetectKernel(t *testing.T) {
	dir := t.TempDir()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	trueELF, err := os.ReadFile("/bin/true")
	if err != nil {
		t.Skipf("needs /bin/true as a small x86_64 ELF: %v", err)
	}
	if binary.LittleEndian.Uint16(trueELF[18:]) != 62 {
		t.Skip("needs an x86_64 host: /bin/true is not EM_X86_64")
	}
	const bzSize = 64 << 10
	ext4 := makeExt4(t, 32<<20)

	tests := []struct {
		name string
		path string
		want KernelFormat
		err  string // fragment of the error, when one is expected
	}{
		{"test binary", self, Vmlinux, ""},
		{"/bin/true", "/bin/true", Vmlinux, ""},
		{"aarch64 elf", writeFile(t, dir, "arm64", elfWith(t, trueELF, 18, 183, 0)), Vmlinux, ""},
		{"bzImage", writeFile(t, dir, "bz", bzImage(bzSize, bzSize, 0x020f, loadedHigh)), BzImage, ""},
		{"bzImage longer than claimed", writeFile(t, dir, "bz2", bzImage(bzSize, bzSize-4096, 0x020f, loadedHigh)), BzImage, ""},

		{"arm32 elf", writeFile(t, dir, "arm", elfWith(t, trueELF, 18, 40, 0)), "", "an ELF file for EM_ARM, want EM_X86_64 or EM_AARCH64"},
		{"riscv elf", writeFile(t, dir, "riscv", elfWith(t, trueELF, 18, 243, 0)), "", "an ELF file for EM_RISCV"},
		{"32-bit elf", writeFile(t, dir, "elf32", elfWith(t, trueELF, 4, 1)), "", "an ELF file of class ELFCLASS32, want ELFCLASS64"},
		{"big-endian elf", writeFile(t, dir, "be", elfWith(t, trueELF, 5, 2)), "", "an ELF file with byte order ELFDATA2MSB, want ELFDATA2LSB"},
		{"relocatable elf", writeFile(t, dir, "mod.ko", elfWith(t, trueELF, 16, 1, 0)), "", "an ELF file of type ET_REL"},
		{"truncated elf header", writeFile(t, dir, "hdr", trueELF[:40]), "", "a truncated ELF header of 40 bytes"},
		{"truncated elf", writeFile(t, dir, "half", trueELF[:len(trueELF)/2]), "", "truncated"},
		{"truncated elf without sections", writeFile(t, dir, "stripped", stripSections(t, trueELF)[:0x3000]), "", "a truncated ELF file: a segment ends at byte"},
		{"truncated bzImage", writeFile(t, dir, "bzshort", bzImage(bzSize, bzSize*2, 0x020f, loadedHigh)), "",
			"a truncated bzImage: its header says at least 131072 bytes but the file has 65536"},
		{"zImage", writeFile(t, dir, "zimage", bzImage(bzSize, bzSize, 0x020f, 0)), "", "the LOADED_HIGH flag is clear"},
		{"old protocol", writeFile(t, dir, "old", bzImage(bzSize, bzSize, 0x0104, loadedHigh)), "", "boot protocol 1.04"},
		{"no boot flag", writeFile(t, dir, "noflag", elfWith(t, bzImage(bzSize, bzSize, 0x020f, loadedHigh), bootOffBootFlag, 0, 0)), "", "without the 0xAA55 boot flag"},
		{"random", writeFile(t, dir, "random", randomBytes(t, 1<<20)), "", "(unrecognised contents): use an uncompressed vmlinux (ELF) or a bzImage"},
		{"gzip", writeFile(t, dir, "vmlinuz.gz", append([]byte{0x1f, 0x8b, 8, 0}, randomBytes(t, 8192)...)), "", "found gzip-compressed data (decompress it first)"},
		{"ext4 image", ext4, "", "found an ext4 filesystem image"},
		{"empty", writeFile(t, dir, "empty", nil), "", "the file is empty"},
		{"tiny", writeFile(t, dir, "tiny", []byte("hi")), "", "unrecognised contents"},
		{"directory", dir, "", "is a directory, not a regular file"},
		{"fifo", fifo(t, dir), "", "is a named pipe (FIFO), not a regular file"},
		{"dev-zero", "/dev/zero", "", "is a character device, not a regular file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DetectKernel(tt.path)
			if tt.err == "" {
				if err != nil || got != tt.want {
					t.Fatalf("DetectKernel = %q, %v, want %q", got, err, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("DetectKernel = %q, want an error saying %q", got, tt.err)
			}
			if got, want := errdefs.KindOf(err), errdefs.InvalidArgument; got != want {
				t.Errorf("kind = %q, want %q (%v)", got, want, err)
			}
			if !strings.Contains(err.Error(), tt.err) || !strings.Contains(err.Error(), tt.path) {
				t.Errorf("DetectKernel = %q, want it to name %s and say %q", err, tt.path, tt.err)
			}
		})
	}
}

func TestDetectKernelMissing(t *testing.T) {
	_, err := DetectKernel(filepath.Join(t.TempDir(), "vmlinux"))
	if got, want := errdefs.KindOf(err), errdefs.NotFound; got != want {
		t.Errorf("DetectKernel(missing) kind = %q, want %q (%v)", got, want, err)
	}
}

// fifo makes a named pipe in dir: a plain open of it blocks until a writer
// comes, which never happens here.
func fifo(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(p, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
