package identdisk

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"path"
	"slices"
	"strings"
)

// File is one file the identity disk carries.
type File struct {
	Path string // absolute guest path, one of Allowed
	Data []byte
	Mode uint32 // permission bits only
}

// Limits of the format; a disk past any of them is refused.
const (
	MaxFiles   = 32
	MaxPath    = 255
	MaxPayload = 1 << 20
	// HeaderSize is the size of the header; BlockSize the unit the image
	// is padded to.
	HeaderSize = 32
	BlockSize  = 4096
	version    = 1
)

// magic opens every identity disk.
var magic = [8]byte{'B', 'A', 'N', 'G', 'E', 'R', 'I', 'D'}

// fixedPaths are the guest paths an identity disk may carry. Host keys
// are allowed so that a fork can get keys of its own.
var fixedPaths = []string{
	"/etc/hostname",
	"/etc/hosts",
	"/etc/machine-id",
	"/etc/banger/agent-token",
	"/etc/ssh/authorized_keys.d/root",
}

// Allowed reports whether p is a guest path an identity disk may carry:
// one of a fixed list, or an SSH host key (/etc/ssh/ssh_host_*_key and
// its .pub) whose type is letters and digits.
func Allowed(p string) bool {
	if slices.Contains(fixedPaths, p) {
		return true
	}
	name, ok := strings.CutPrefix(p, "/etc/ssh/ssh_host_")
	if !ok {
		return false
	}
	name = strings.TrimSuffix(name, ".pub")
	kind, ok := strings.CutSuffix(name, "_key")
	if !ok || kind == "" || len(kind) > 16 {
		return false
	}
	for _, r := range kind {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') {
			return false
		}
	}
	return true
}

func checkFile(f File) error {
	switch {
	case len(f.Path) > MaxPath:
		return fmt.Errorf("path of %d bytes is longer than %d", len(f.Path), MaxPath)
	case path.Clean(f.Path) != f.Path || !path.IsAbs(f.Path):
		return fmt.Errorf("path %q is not absolute and clean", f.Path)
	case !Allowed(f.Path):
		return fmt.Errorf("path %q is not one an identity disk may write", f.Path)
	case f.Mode&^0o777 != 0:
		return fmt.Errorf("%s: mode %#o has more than permission bits", f.Path, f.Mode)
	}
	return nil
}

// Encode returns the identity disk holding files, padded to BlockSize.
// Files must be allowed, each path at most once.
func Encode(files []File) ([]byte, error) {
	if len(files) > MaxFiles {
		return nil, fmt.Errorf("identity disk: %d files, at most %d", len(files), MaxFiles)
	}
	var payload bytes.Buffer
	seen := map[string]bool{}
	for _, f := range files {
		if err := checkFile(f); err != nil {
			return nil, fmt.Errorf("identity disk: %w", err)
		}
		if seen[f.Path] {
			return nil, fmt.Errorf("identity disk: %s named twice", f.Path)
		}
		seen[f.Path] = true
		payload.Write(binary.BigEndian.AppendUint16(nil, uint16(len(f.Path))))
		payload.WriteString(f.Path)
		payload.Write(binary.BigEndian.AppendUint32(nil, f.Mode))
		payload.Write(binary.BigEndian.AppendUint32(nil, uint32(len(f.Data))))
		payload.Write(f.Data)
		if payload.Len() > MaxPayload {
			return nil, fmt.Errorf("identity disk: files take more than %d bytes", MaxPayload)
		}
	}
	p := payload.Bytes()
	out := make([]byte, 0, HeaderSize+len(p)+BlockSize)
	out = append(out, magic[:]...)
	out = binary.BigEndian.AppendUint32(out, version)
	out = binary.BigEndian.AppendUint32(out, uint32(len(files)))
	out = binary.BigEndian.AppendUint32(out, uint32(len(p)))
	out = binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(p))
	out = append(out, make([]byte, 8)...)
	out = append(out, p...)
	if rem := len(out) % BlockSize; rem != 0 {
		out = append(out, make([]byte, BlockSize-rem)...)
	}
	return out, nil
}

// header is the parsed header of a disk.
type header struct {
	count, length, sum uint32
}

// IsIdentityDisk reports whether b (at least the first HeaderSize bytes
// of a device) starts like an identity disk.
func IsIdentityDisk(b []byte) bool {
	return len(b) >= len(magic) && bytes.Equal(b[:len(magic)], magic[:])
}

func parseHeader(b []byte) (header, error) {
	if len(b) < HeaderSize {
		return header{}, fmt.Errorf("identity disk: %d bytes, shorter than its %d-byte header", len(b), HeaderSize)
	}
	if !IsIdentityDisk(b) {
		return header{}, fmt.Errorf("identity disk: no %q magic", magic[:])
	}
	if v := binary.BigEndian.Uint32(b[8:]); v != version {
		return header{}, fmt.Errorf("identity disk: version %d, this agent reads %d: update the image's banger-agent", v, version)
	}
	h := header{
		count:  binary.BigEndian.Uint32(b[12:]),
		length: binary.BigEndian.Uint32(b[16:]),
		sum:    binary.BigEndian.Uint32(b[20:]),
	}
	if h.count > MaxFiles {
		return header{}, fmt.Errorf("identity disk: %d files, at most %d", h.count, MaxFiles)
	}
	if h.length > MaxPayload {
		return header{}, fmt.Errorf("identity disk: payload of %d bytes, at most %d", h.length, MaxPayload)
	}
	return h, nil
}

// Decode parses an identity disk (its bytes from the start; trailing
// padding is ignored) and checks every file as Encode does.
func Decode(b []byte) ([]File, error) {
	h, err := parseHeader(b)
	if err != nil {
		return nil, err
	}
	if uint64(len(b)) < HeaderSize+uint64(h.length) {
		return nil, fmt.Errorf("identity disk: payload of %d bytes does not fit in %d", h.length, len(b)-HeaderSize)
	}
	p := b[HeaderSize : HeaderSize+int(h.length)]
	if crc32.ChecksumIEEE(p) != h.sum {
		return nil, fmt.Errorf("identity disk: checksum does not match: the disk is damaged")
	}
	files := make([]File, 0, h.count)
	seen := map[string]bool{}
	for i := uint32(0); i < h.count; i++ {
		if len(p) < 2 {
			return nil, fmt.Errorf("identity disk: entry %d is cut short", i)
		}
		n := int(binary.BigEndian.Uint16(p))
		p = p[2:]
		if len(p) < n+8 {
			return nil, fmt.Errorf("identity disk: entry %d is cut short", i)
		}
		f := File{Path: string(p[:n]), Mode: binary.BigEndian.Uint32(p[n:])}
		size := binary.BigEndian.Uint32(p[n+4:])
		p = p[n+8:]
		if uint64(size) > uint64(len(p)) {
			return nil, fmt.Errorf("identity disk: entry %d claims %d bytes, %d are left", i, size, len(p))
		}
		f.Data = bytes.Clone(p[:size])
		p = p[size:]
		if err := checkFile(f); err != nil {
			return nil, fmt.Errorf("identity disk: entry %d: %w", i, err)
		}
		if seen[f.Path] {
			return nil, fmt.Errorf("identity disk: %s named twice", f.Path)
		}
		seen[f.Path] = true
		files = append(files, f)
	}
	if len(p) != 0 {
		return nil, fmt.Errorf("identity disk: %d bytes follow the last entry", len(p))
	}
	return files, nil
}
