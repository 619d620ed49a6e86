package kernelbuild

import (
	"bytes"
	"compress/gzip"
	"context"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/ulikunitz/xz"

	"banger/internal/errdefs"
)

// Offsets in the x86 boot protocol header (Documentation/x86/boot.rst).
const (
	offSetupSects    = 0x1F1
	offHeaderMagic   = 0x202
	offVersion       = 0x206
	offPayloadOffset = 0x248
	offPayloadLength = 0x24C
	minHeaderLen     = 0x250
	payloadVersion   = 0x0208 // protocol 2.08 added the payload fields
)

// Limits against hostile input: a bzImage and the kernel inside it.
const (
	maxBzImage = 256 << 20
	maxVmlinux = 1 << 30
)

// compression is a payload format, recognised by its magic bytes.
type compression struct {
	name  string
	magic []byte
	// sized formats carry the decompressed size in 4 bytes after the stream.
	sized bool
}

var compressions = []compression{
	{"gzip", []byte{0x1f, 0x8b}, false},
	{"xz", []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}, true},
	{"zstd", []byte{0x28, 0xb5, 0x2f, 0xfd}, true},
	{"bzip2", []byte("BZh"), true},
	{"lzma", []byte{0x5d, 0x00, 0x00}, true},
	{"lzo", []byte{0x89, 'L', 'Z', 'O'}, true},
	{"lz4", []byte{0x02, 0x21, 0x4c, 0x18}, true},
}

// Unpack extracts the vmlinux ELF from an x86 bzImage into dst. gzip, xz,
// zstd and lz4 (legacy frame) payloads are supported; other formats, truncated or corrupt
// files and payloads that are not an x86_64 ELF are InvalidArgument. dst is
// written through a temporary file and renamed, so it is never partial.
func Unpack(bzImage, dst string) error {
	data, err := readLimited(bzImage, maxBzImage)
	if err != nil {
		return err
	}
	payload, err := payloadOf(data)
	if err != nil {
		return errdefs.InvalidArgumentf("%s is not a bzImage banger can unpack: %v: pass a bzImage or a vmlinux", bzImage, err)
	}
	kernel, err := decompress(payload)
	if err != nil {
		return errdefs.InvalidArgumentf("unpack %s: %v", bzImage, err)
	}
	if err := checkELF(kernel); err != nil {
		return errdefs.InvalidArgumentf("unpack %s: the payload is not a kernel: %v", bzImage, err)
	}
	return writeFileAtomic(dst, kernel)
}

func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, errdefs.NotFoundf("%s does not exist: check the path", path)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if int64(len(data)) > limit {
		return nil, errdefs.InvalidArgumentf("%s is larger than %d MiB: not a bzImage", path, limit>>20)
	}
	return data, nil
}

// payloadOf returns the compressed kernel inside a bzImage.
func payloadOf(data []byte) ([]byte, error) {
	le := binary.LittleEndian
	if len(data) < minHeaderLen {
		return nil, fmt.Errorf("only %d bytes, too short for a boot header", len(data))
	}
	if string(data[offHeaderMagic:offHeaderMagic+4]) != "HdrS" {
		return nil, errors.New("no \"HdrS\" boot header")
	}
	if v := le.Uint16(data[offVersion:]); v < payloadVersion {
		return nil, fmt.Errorf("boot protocol %d.%02d predates payload fields (2.08)", v>>8, v&0xff)
	}
	setup := int(data[offSetupSects])
	if setup == 0 {
		setup = 4
	}
	pm := uint64(setup+1) * 512
	off, n := uint64(le.Uint32(data[offPayloadOffset:])), uint64(le.Uint32(data[offPayloadLength:]))
	if end := pm + off + n; n == 0 || end > uint64(len(data)) {
		return nil, fmt.Errorf("truncated: the payload ends at byte %d but the file has %d", pm+off+n, len(data))
	}
	return data[pm+off : pm+off+n], nil
}

// decompress recognises the payload's format and decompresses it, with the
// size checked against the trailer for formats that record it.
func decompress(payload []byte) ([]byte, error) {
	var c *compression
	for i := range compressions {
		if bytes.HasPrefix(payload, compressions[i].magic) {
			c = &compressions[i]
			break
		}
	}
	if c == nil {
		return nil, errors.New("the payload's compression is not recognised")
	}
	stream, want := payload, int64(-1)
	if c.sized {
		if len(payload) < 8 {
			return nil, fmt.Errorf("the %s payload is truncated", c.name)
		}
		stream = payload[:len(payload)-4]
		want = int64(binary.LittleEndian.Uint32(payload[len(payload)-4:]))
	}
	var (
		out []byte
		err error
	)
	switch c.name {
	case "gzip":
		out, err = gunzip(stream)
	case "xz":
		out, err = unxz(stream)
	case "zstd":
		out, err = unzstd(stream)
	case "lz4":
		out, err = unlz4(stream, want)
	default:
		return nil, fmt.Errorf("the payload is %s-compressed, which banger cannot unpack: use a vmlinux, or a bzImage built with gzip, xz, zstd or lz4", c.name)
	}
	if err != nil {
		return nil, fmt.Errorf("decompress the %s payload (truncated or corrupt?): %w", c.name, err)
	}
	if want >= 0 && int64(len(out)) != want {
		return nil, fmt.Errorf("the %s payload decompressed to %d bytes but its trailer says %d (corrupt?)", c.name, len(out), want)
	}
	return out, nil
}

func readAllLimited(r io.Reader) ([]byte, error) {
	out, err := io.ReadAll(io.LimitReader(r, maxVmlinux+1))
	if err != nil {
		return nil, err
	}
	if len(out) > maxVmlinux {
		return nil, fmt.Errorf("it decompresses to more than %d MiB", maxVmlinux>>20)
	}
	return out, nil
}

func gunzip(stream []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(stream))
	if err != nil {
		return nil, err
	}
	zr.Multistream(false)
	return readAllLimited(zr)
}

// unxz decompresses with the pure-Go reader, which handles plain LZMA2. The
// kernel's own xz streams use the x86 BCJ filter that reader lacks; for
// those the xz program, if installed, does the work.
func unxz(stream []byte) ([]byte, error) {
	xr, err := xz.ReaderConfig{SingleStream: true}.NewReader(bytes.NewReader(stream))
	if err == nil {
		var out []byte
		if out, err = readAllLimited(xr); err == nil {
			return out, nil
		}
	}
	if _, lookErr := exec.LookPath("xz"); lookErr != nil {
		return nil, fmt.Errorf("%w (install xz-utils to unpack xz streams with filters)", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "xz", "--decompress", "--stdout", "--single-stream")
	cmd.Stdin = bytes.NewReader(stream)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, perr := cmd.StdoutPipe()
	if perr != nil {
		return nil, perr
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	out, rerr := readAllLimited(stdout)
	if rerr != nil {
		cancel()
	}
	werr := cmd.Wait()
	if rerr != nil {
		return nil, rerr
	}
	if werr != nil {
		return nil, fmt.Errorf("xz: %s", bytes.TrimSpace(stderr.Bytes()))
	}
	return out, nil
}

func unzstd(stream []byte) ([]byte, error) {
	zr, err := zstd.NewReader(bytes.NewReader(stream), zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(maxVmlinux))
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	return readAllLimited(zr)
}

// lz4LegacyMagic starts an lz4 legacy-frame stream (lz4 -l), the format of
// the kernel's CONFIG_KERNEL_LZ4 payload.
const lz4LegacyMagic = 0x184C2102

// lz4LegacyBlock is the most one legacy-frame block decompresses to.
const lz4LegacyBlock = 8 << 20

// unlz4 decompresses an lz4 legacy-frame stream: the magic, then blocks
// each prefixed by its compressed size (little endian), until the stream
// ends; a repeated magic (concatenated streams) is skipped, as the
// kernel's own decompressor does. want, the size from the payload's
// trailer, bounds the output.
func unlz4(stream []byte, want int64) ([]byte, error) {
	le := binary.LittleEndian
	if len(stream) < 4 || le.Uint32(stream) != lz4LegacyMagic {
		return nil, errors.New("not an lz4 legacy-frame stream")
	}
	if want < 0 || want > maxVmlinux {
		return nil, fmt.Errorf("it decompresses to %d bytes, more than %d MiB", want, maxVmlinux>>20)
	}
	out := make([]byte, 0, want)
	block := make([]byte, lz4LegacyBlock)
	rest := stream[4:]
	for len(rest) > 0 {
		if len(rest) < 4 {
			return nil, fmt.Errorf("%d stray bytes at the end of the stream", len(rest))
		}
		size := le.Uint32(rest)
		rest = rest[4:]
		if size == lz4LegacyMagic {
			continue
		}
		if uint64(size) > uint64(len(rest)) {
			return nil, fmt.Errorf("a block of %d bytes but only %d are left", size, len(rest))
		}
		n, err := lz4.UncompressBlock(rest[:size], block)
		if err != nil {
			return nil, err
		}
		if int64(len(out)+n) > want {
			return nil, fmt.Errorf("it decompresses to more than the %d bytes its trailer says", want)
		}
		out = append(out, block[:n]...)
		rest = rest[size:]
	}
	return out, nil
}

// checkELF checks that data is a 64-bit x86_64 ELF executable.
func checkELF(data []byte) error {
	ef, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return err
	}
	if ef.Class != elf.ELFCLASS64 || ef.Machine != elf.EM_X86_64 {
		return fmt.Errorf("an ELF of class %v for %v, want ELFCLASS64 for EM_X86_64", ef.Class, ef.Machine)
	}
	if ef.Type != elf.ET_EXEC && ef.Type != elf.ET_DYN {
		return fmt.Errorf("an ELF of type %v, want an executable", ef.Type)
	}
	return nil
}

// writeFileAtomic writes data to a temporary file next to path, syncs it
// and renames it into place.
func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(0o644)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		_ = os.Remove(f.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
