package disk

import (
	"bytes"
	"encoding/binary"
)

// signature is a recognisable file header, used only to tell a person what
// a file they passed is when it is not what banger expected.
type signature struct {
	offset int
	magic  string
	what   string
}

var signatures = []signature{
	{0, "\x7fELF", "an ELF binary"},
	{0, "QFI\xfb", "a qcow2 image (convert it with qemu-img convert -O raw)"},
	{0, "\x1f\x8b", "gzip-compressed data (decompress it first)"},
	{0, "\xfd7zXZ\x00", "xz-compressed data (decompress it first)"},
	{0, "\x28\xb5\x2f\xfd", "zstd-compressed data (decompress it first)"},
	{0, "BZh", "bzip2-compressed data (decompress it first)"},
	{0, "\x02\x21\x4c\x18", "lz4-compressed data (decompress it first)"},
	{0, "hsqs", "a squashfs image"},
	{0, "XFSB", "an XFS filesystem"},
	{0, "070701", "a cpio archive (an initramfs?)"},
	{0, "PK\x03\x04", "a zip archive"},
	{0, "conectix", "a VHD image"},
	{0, "vhdxfile", "a VHDX image"},
	{0, "KDMV", "a VMDK image"},
	{257, "ustar", "a tar archive (build an ext4 image from it with mkfs.ext4 -d)"},
	{0x202, "HdrS", "an x86 bzImage kernel"},
	{0x38, "ARM\x64", "an arm64 Image kernel"},
}

// sniff names the format of a file from its first bytes, or returns "" when
// it does not recognise it.
func sniff(head []byte) string {
	for _, s := range signatures {
		end := s.offset + len(s.magic)
		if len(head) >= end && string(head[s.offset:end]) == s.magic {
			return s.what
		}
	}
	if len(head) >= sbOffset+offMagic+2 && binary.LittleEndian.Uint16(head[sbOffset+offMagic:]) == ext4Magic {
		return "an ext4 filesystem image"
	}
	if len(head) >= 512 && binary.LittleEndian.Uint16(head[510:]) == 0xAA55 {
		if len(head) >= 520 && string(head[512:520]) == "EFI PART" {
			return "a whole disk with a GPT partition table (extract the ext4 partition)"
		}
		return "a whole disk with an MBR partition table (extract the ext4 partition)"
	}
	if len(head) > 0 && allZero(head) {
		return "only zeros"
	}
	return ""
}

var zeroPage [4096]byte

// allZero reports whether b holds only zero bytes.
func allZero(b []byte) bool {
	for len(b) > 0 {
		n := min(len(b), len(zeroPage))
		if !bytes.Equal(b[:n], zeroPage[:n]) {
			return false
		}
		b = b[n:]
	}
	return true
}
