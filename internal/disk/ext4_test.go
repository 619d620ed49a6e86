package disk

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"banger/internal/errdefs"
)

// patch overwrites bytes of a file at off.
func patch(t *testing.T, path string, off int64, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

func le32(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }

func TestIsExt4Accepts(t *testing.T) {
	tests := []struct {
		name  string
		size  int64
		extra []string
	}{
		{"defaults", 64 << 20, nil},
		{"4k blocks, 64bit", 600 << 20, []string{"-b", "4096", "-O", "64bit"}},
		{"no metadata_csum", 32 << 20, []string{"-O", "^metadata_csum"}},
		{"no journal", 32 << 20, []string{"-O", "^has_journal"}},
		{"ext2 layout", 32 << 20, []string{"-t", "ext2"}},
		{"csum seed and label", 32 << 20, []string{"-O", "metadata_csum_seed", "-L", "rootfs"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := makeExt4(t, tt.size, tt.extra...)
			if err := IsExt4(p); err != nil {
				t.Fatalf("IsExt4 = %v, want nil", err)
			}
		})
	}
}

func TestReadSuperblock(t *testing.T) {
	p := makeExt4(t, 64<<20, "-b", "4096", "-L", "hello", "-U", "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0")
	sb, err := readSuperblock(p)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := sb.label, "hello"; got != want {
		t.Errorf("label = %q, want %q", got, want)
	}
	if got, want := sb.size(), int64(64<<20); got != want {
		t.Errorf("size = %d, want %d", got, want)
	}
	if got, want := sb.blockSize, int64(4096); got != want {
		t.Errorf("block size = %d, want %d", got, want)
	}
	want := [16]byte{0x0f, 0x1e, 0x2d, 0x3c, 0x4b, 0x5a, 0x69, 0x78, 0x87, 0x96, 0xa5, 0xb4, 0xc3, 0xd2, 0xe1, 0xf0}
	if sb.uuid != want {
		t.Errorf("uuid = %x, want %x", sb.uuid, want)
	}
}

func TestIsExt4Rejects(t *testing.T) {
	dir := t.TempDir()
	elf, err := os.ReadFile("/bin/true")
	if err != nil {
		elf = []byte("\x7fELF\x02\x01\x01")
	}
	qcow := append([]byte("QFI\xfb\x00\x00\x00\x03"), make([]byte, 4096)...)
	gz := append([]byte{0x1f, 0x8b, 0x08, 0x00}, randomBytes(t, 4096)...)
	mbr := make([]byte, 4096)
	mbr[510], mbr[511] = 0x55, 0xAA

	tests := []struct {
		name string
		path string
		kind errdefs.Kind
		want string
	}{
		{"random", writeFile(t, dir, "random", randomBytes(t, 1<<20)), errdefs.InvalidArgument,
			"is not an ext4 filesystem image (no ext4 superblock): build it with mkfs.ext4 -d"},
		{"empty", writeFile(t, dir, "empty", nil), errdefs.InvalidArgument, "only 0 bytes, too short for a superblock"},
		{"short", writeFile(t, dir, "short", randomBytes(t, 1500)), errdefs.InvalidArgument, "only 1500 bytes"},
		{"zeros", writeFile(t, dir, "zeros", make([]byte, 8192)), errdefs.InvalidArgument, "no ext4 superblock; found only zeros"},
		{"elf", writeFile(t, dir, "elf", elf), errdefs.InvalidArgument, "found an ELF binary"},
		{"qcow2", writeFile(t, dir, "qcow2", qcow), errdefs.InvalidArgument, "found a qcow2 image (convert it with qemu-img convert -O raw)"},
		{"gzip", writeFile(t, dir, "gzip", gz), errdefs.InvalidArgument, "found gzip-compressed data"},
		{"mbr", writeFile(t, dir, "mbr", mbr), errdefs.InvalidArgument, "found a whole disk with an MBR partition table"},
		{"directory", dir, errdefs.InvalidArgument, "is a directory"},
		{"fifo", fifo(t, dir), errdefs.InvalidArgument, "is a named pipe (FIFO), not a regular file"},
		{"dev-zero", "/dev/zero", errdefs.InvalidArgument, "is a character device, not a regular file"},
		{"missing", filepath.Join(dir, "nope"), errdefs.NotFound, "does not exist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := IsExt4(tt.path)
			if err == nil {
				t.Fatal("IsExt4 = nil, want an error")
			}
			if got := errdefs.KindOf(err); got != tt.kind {
				t.Errorf("kind = %q, want %q (%v)", got, tt.kind, err)
			}
			if !strings.Contains(err.Error(), tt.path) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("IsExt4 = %q, want it to name %s and say %q", err, tt.path, tt.want)
			}
		})
	}
}

func TestIsExt4RejectsDamagedSuperblock(t *testing.T) {
	tests := []struct {
		name   string
		extra  []string
		damage func(t *testing.T, path string)
		want   string
	}{
		{"unknown incompat bit", nil, func(t *testing.T, p string) {
			sb, _ := readSuperblock(p)
			patch(t, p, sbOffset+offFeatureIncomp, le32(sb.incompat|0x40000000))
		}, "unknown incompatible features 0x40000000"},
		{"impossible block size", nil, func(t *testing.T, p string) {
			patch(t, p, sbOffset+offLogBlockSize, le32(12))
		}, "impossible block size"},
		{"zero blocks per group", []string{"-O", "^metadata_csum"}, func(t *testing.T, p string) {
			patch(t, p, sbOffset+offBlocksPerGrp, le32(0))
		}, "impossible block or inode counts"},
		{"bad checksum", nil, func(t *testing.T, p string) {
			patch(t, p, sbOffset+offVolumeName, []byte("tampered"))
		}, "checksum does not match"},
		{"truncated", nil, func(t *testing.T, p string) {
			if err := os.Truncate(p, 32<<20); err != nil {
				t.Fatal(err)
			}
		}, "is a truncated ext4 image: its superblock says 67108864 bytes but the file has 33554432"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := makeExt4(t, 64<<20, tt.extra...)
			tt.damage(t, p)
			err := IsExt4(p)
			if err == nil {
				t.Fatal("IsExt4 = nil, want an error")
			}
			if got, want := errdefs.KindOf(err), errdefs.InvalidArgument; got != want {
				t.Errorf("kind = %q, want %q", got, want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("IsExt4 = %q, want it to say %q", err, tt.want)
			}
		})
	}
}

func TestIsExt4RejectsJournalDevice(t *testing.T) {
	p := makeExt4(t, 32<<20, "-O", "journal_dev")
	err := IsExt4(p)
	if err == nil || !strings.Contains(err.Error(), "external ext4 journal device") {
		t.Errorf("IsExt4 = %v, want an error about a journal device", err)
	}
}
