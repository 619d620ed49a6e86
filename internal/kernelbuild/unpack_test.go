package kernelbuild

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/ulikunitz/xz"

	"banger/internal/errdefs"
)

// tinyELF is a minimal x86_64 ELF executable header followed by filler.
func tinyELF(machine elfMachine) []byte {
	b := make([]byte, 64, 64+4096)
	copy(b, "\x7fELF")
	b[4], b[5], b[6] = 2, 1, 1 // ELFCLASS64, little endian, version 1
	le := binary.LittleEndian
	le.PutUint16(b[16:], 2) // ET_EXEC
	le.PutUint16(b[18:], uint16(machine))
	le.PutUint32(b[20:], 1)
	le.PutUint64(b[24:], 0x1000000) // entry
	le.PutUint16(b[52:], 64)        // ehsize
	le.PutUint16(b[54:], 56)        // phentsize
	le.PutUint16(b[58:], 64)        // shentsize
	return append(b, bytes.Repeat([]byte("banger kernel "), 292)...)
}

type elfMachine uint16

const (
	machineX86_64  elfMachine = 62
	machineAArch64 elfMachine = 183
)

// fakeBzImage wraps payload in a boot-protocol 2.15 header with one setup
// sector, the payload 0x100 bytes into the protected-mode code.
func fakeBzImage(payload []byte) []byte {
	b := make([]byte, 2*512+0x100)
	le := binary.LittleEndian
	b[offSetupSects] = 1
	le.PutUint16(b[0x1FE:], 0xAA55)
	copy(b[offHeaderMagic:], "HdrS")
	le.PutUint16(b[offVersion:], 0x020F)
	le.PutUint32(b[offPayloadOffset:], 0x100)
	le.PutUint32(b[offPayloadLength:], uint32(len(payload)))
	b = append(b, payload...)
	return append(b, make([]byte, 64)...) // what follows the payload in a real bzImage
}

func withSize(stream []byte, size int) []byte {
	return binary.LittleEndian.AppendUint32(stream, uint32(size))
}

func gzipped(t *testing.T, data []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(data)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func xzGo(t *testing.T, data []byte) []byte {
	var buf bytes.Buffer
	zw, err := xz.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	zw.Write(data)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return withSize(buf.Bytes(), len(data))
}

// xzKernelStyle compresses as the kernel's scripts/xz_wrap.sh does, with
// the x86 BCJ filter the pure-Go reader lacks.
func xzKernelStyle(t *testing.T, data []byte) []byte {
	if _, err := exec.LookPath("xz"); err != nil {
		t.Skip("needs xz (xz-utils) to make a BCJ-filtered stream")
	}
	cmd := exec.Command("xz", "--check=crc32", "--x86", "--lzma2=dict=1MiB", "--stdout")
	cmd.Stdin = bytes.NewReader(data)
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	return withSize(out, len(data))
}

func zstdCompressed(t *testing.T, data []byte) []byte {
	zw, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer zw.Close()
	return withSize(zw.EncodeAll(data, nil), len(data))
}

// lz4Legacy compresses data as "lz4 -l" does: the legacy magic, then
// blocks of at most block bytes, each prefixed by its compressed size.
func lz4Legacy(t *testing.T, data []byte, block int) []byte {
	out := binary.LittleEndian.AppendUint32(nil, lz4LegacyMagic)
	for len(data) > 0 {
		n := min(block, len(data))
		buf := make([]byte, lz4.CompressBlockBound(n))
		c, err := lz4.CompressBlock(data[:n], buf, nil)
		if err != nil || c == 0 {
			t.Fatalf("lz4.CompressBlock = %d, %v", c, err)
		}
		out = binary.LittleEndian.AppendUint32(out, uint32(c))
		out = append(out, buf[:c]...)
		data = data[n:]
	}
	return out
}

func TestUnpackFormats(t *testing.T) {
	kernel := tinyELF(machineX86_64)
	tests := []struct {
		name    string
		payload func(*testing.T) []byte
	}{
		{"gzip", func(t *testing.T) []byte { return gzipped(t, kernel) }},
		{"xz", func(t *testing.T) []byte { return xzGo(t, kernel) }},
		{"xz with the x86 BCJ filter", func(t *testing.T) []byte { return xzKernelStyle(t, kernel) }},
		{"zstd", func(t *testing.T) []byte { return zstdCompressed(t, kernel) }},
		{"lz4 legacy, one block", func(t *testing.T) []byte { return withSize(lz4Legacy(t, kernel, lz4LegacyBlock), len(kernel)) }},
		{"lz4 legacy, several blocks", func(t *testing.T) []byte { return withSize(lz4Legacy(t, kernel, 1000), len(kernel)) }},
		{"lz4 legacy, concatenated streams", func(t *testing.T) []byte {
			half := len(kernel) / 2
			return withSize(append(lz4Legacy(t, kernel[:half], 4096), lz4Legacy(t, kernel[half:], 4096)...), len(kernel))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			src, dst := filepath.Join(dir, "bzImage"), filepath.Join(dir, "vmlinux")
			if err := os.WriteFile(src, fakeBzImage(tt.payload(t)), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := Unpack(src, dst); err != nil {
				t.Fatalf("Unpack: %v", err)
			}
			got, err := os.ReadFile(dst)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, kernel) {
				t.Errorf("unpacked %d bytes, want the %d-byte kernel", len(got), len(kernel))
			}
		})
	}
}

func TestUnpackBadInput(t *testing.T) {
	kernel := tinyELF(machineX86_64)
	good := fakeBzImage(gzipped(t, kernel))
	truncatedPayload := gzipped(t, kernel)
	truncatedPayload = truncatedPayload[:len(truncatedPayload)/2]
	oldProtocol := append([]byte(nil), good...)
	binary.LittleEndian.PutUint16(oldProtocol[offVersion:], 0x0206)
	wrongSize := zstdCompressed(t, kernel)
	binary.LittleEndian.PutUint32(wrongSize[len(wrongSize)-4:], 12345)
	tests := []struct {
		name  string
		input []byte
		want  string
	}{
		{"empty", nil, "too short"},
		{"garbage", bytes.Repeat([]byte{0x5a}, 8192), `no "HdrS"`},
		{"truncated file", good[:len(good)-200], "truncated"},
		{"truncated payload", fakeBzImage(truncatedPayload), "truncated or corrupt"},
		{"old boot protocol", oldProtocol, "predates payload fields"},
		{"bzip2", fakeBzImage(withSize([]byte("BZh91AY&SY..."), 100)), "bzip2-compressed, which banger cannot unpack"},
		{"lz4 block past the end", fakeBzImage(withSize([]byte{0x02, 0x21, 0x4c, 0x18, 0xff, 0, 0, 0, 1, 2, 3}, 100)), "only 3 are left"},
		{"lz4 corrupt block", fakeBzImage(withSize([]byte{0x02, 0x21, 0x4c, 0x18, 3, 0, 0, 0, 0xf0, 2, 3}, 100)), "truncated or corrupt"},
		{"lz4 longer than its trailer", fakeBzImage(withSize(lz4Legacy(t, kernel, 1024), 100)), "more than the 100 bytes"},
		{"lz4 stray bytes", fakeBzImage(withSize(append(lz4Legacy(t, kernel, 1024), 1, 2), len(kernel))), "stray bytes"},
		{"unknown compression", fakeBzImage([]byte("plain text, not compressed")), "not recognised"},
		{"size trailer mismatch", fakeBzImage(wrongSize), "trailer says 12345"},
		{"not an ELF", fakeBzImage(gzipped(t, []byte("#!/bin/sh\necho not a kernel\n"))), "not a kernel"},
		{"ELF for another machine", fakeBzImage(gzipped(t, tinyELF(machineAArch64))), "EM_AARCH64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			src, dst := filepath.Join(dir, "bzImage"), filepath.Join(dir, "vmlinux")
			if err := os.WriteFile(src, tt.input, 0o644); err != nil {
				t.Fatal(err)
			}
			err := Unpack(src, dst)
			if err == nil {
				t.Fatal("Unpack succeeded, want an error")
			}
			if got := errdefs.KindOf(err); got != errdefs.InvalidArgument {
				t.Errorf("kind %q, want %q (%v)", got, errdefs.InvalidArgument, err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
			entries, _ := os.ReadDir(dir)
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			if diff := cmp.Diff([]string{"bzImage"}, names); diff != "" {
				t.Errorf("files left behind (-want +got):\n%s", diff)
			}
		})
	}
}

func TestUnpackMissingFile(t *testing.T) {
	err := Unpack(filepath.Join(t.TempDir(), "nope"), filepath.Join(t.TempDir(), "vmlinux"))
	if got := errdefs.KindOf(err); got != errdefs.NotFound {
		t.Errorf("kind %q, want %q (%v)", got, errdefs.NotFound, err)
	}
}
