package disk

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"banger/internal/errdefs"
	"banger/internal/userfile"
)

// The ext4 superblock lives at byte 1024 and is 1024 bytes long. Field
// offsets are relative to its start (see the kernel's struct ext4_super_block).
const (
	sbOffset = 1024
	sbSize   = 1024

	offInodesCount   = 0x00
	offBlocksCountLo = 0x04
	offLogBlockSize  = 0x18
	offBlocksPerGrp  = 0x20
	offInodesPerGrp  = 0x28
	offMagic         = 0x38
	offFeatureCompat = 0x5C
	offFeatureIncomp = 0x60
	offFeatureROComp = 0x64
	offUUID          = 0x68
	offVolumeName    = 0x78
	offBlocksCountHi = 0x150
	offChecksum      = 0x3FC

	ext4Magic = 0xEF53

	compatOrphanFile       = 0x1000
	incompatJournalDev     = 0x0008
	incompat64Bit          = 0x0080
	roCompatMetadataCsum   = 0x0400
	roCompatOrphanPresent  = 0x10000
	maxLogBlockSize        = 6 // 64 KiB blocks
	incompatKnown          = 0x0001 | 0x0002 | 0x0004 | 0x0008 | 0x0010 | 0x0040 | 0x0080 | 0x0100 | 0x0200 | 0x0400 | 0x1000 | 0x2000 | 0x4000 | 0x8000 | 0x10000 | 0x20000
	wrongFormatInstruction = "build it with mkfs.ext4 -d"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// superblock is the part of an ext4 superblock banger reads.
type superblock struct {
	blockSize    int64
	blocks       uint64
	compat       uint32
	incompat     uint32
	roCompat     uint32
	uuid         [16]byte
	label        string
	checksumOK   bool // true when metadata_csum is off or the checksum matches
	inodesCount  uint32
	blocksPerGrp uint32
}

// size is the filesystem size in bytes according to the superblock.
func (sb *superblock) size() int64 { return int64(sb.blocks) * sb.blockSize }

// IsExt4 returns nil when path holds an ext4 (or ext2/ext3) filesystem that
// Linux can mount, reading only its superblock. Otherwise it returns an
// InvalidArgument error naming path and what was found instead.
func IsExt4(path string) error {
	_, err := readSuperblock(path)
	return err
}

// readSuperblock reads and checks path's ext4 superblock.
func readSuperblock(path string) (*superblock, error) {
	f, err := userfile.Open(path, MaxImageSize)
	if err != nil {
		if errors.Is(err, userfile.ErrNotRegular) {
			return nil, fmt.Errorf("%w: %s", err, wrongFormatInstruction)
		}
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("stat %s: %w", path, err)
	}
	head := make([]byte, sbOffset+sbSize)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	head = head[:n]
	if n < sbOffset+sbSize {
		return nil, notExt4(path, head, fmt.Sprintf("only %d bytes, too short for a superblock", n))
	}
	sb, problem := parseSuperblock(head[sbOffset:])
	if problem != "" {
		return nil, notExt4(path, head, problem)
	}
	if sb.size() > st.Size() {
		return nil, errdefs.InvalidArgumentf("%s is a truncated ext4 image: its superblock says %d bytes but the file has %d: copy or build it again", path, sb.size(), st.Size())
	}
	return sb, nil
}

// parseSuperblock decodes b (1024 bytes at offset 1024). problem is empty
// when b is a usable ext4 superblock and otherwise says what is wrong.
func parseSuperblock(b []byte) (sb *superblock, problem string) {
	le := binary.LittleEndian
	if le.Uint16(b[offMagic:]) != ext4Magic {
		return nil, "no ext4 superblock"
	}
	sb = &superblock{
		compat:       le.Uint32(b[offFeatureCompat:]),
		incompat:     le.Uint32(b[offFeatureIncomp:]),
		roCompat:     le.Uint32(b[offFeatureROComp:]),
		inodesCount:  le.Uint32(b[offInodesCount:]),
		blocksPerGrp: le.Uint32(b[offBlocksPerGrp:]),
		blocks:       uint64(le.Uint32(b[offBlocksCountLo:])),
		checksumOK:   true,
	}
	copy(sb.uuid[:], b[offUUID:offUUID+16])
	sb.label = cString(b[offVolumeName : offVolumeName+16])
	logBS := le.Uint32(b[offLogBlockSize:])
	if logBS > maxLogBlockSize {
		return nil, fmt.Sprintf("an ext4 magic number but an impossible block size (2^%d KiB)", logBS)
	}
	sb.blockSize = 1024 << logBS
	if unknown := sb.incompat &^ incompatKnown; unknown != 0 {
		return nil, fmt.Sprintf("an ext4 magic number but unknown incompatible features %#x", unknown)
	}
	if sb.incompat&incompatJournalDev != 0 {
		return nil, "an external ext4 journal device, not a filesystem"
	}
	if sb.incompat&incompat64Bit != 0 {
		sb.blocks |= uint64(le.Uint32(b[offBlocksCountHi:])) << 32
	}
	if sb.blocks == 0 || sb.inodesCount == 0 || sb.blocksPerGrp == 0 || int64(sb.blocksPerGrp) > 8*sb.blockSize {
		return nil, "an ext4 magic number but impossible block or inode counts"
	}
	if sb.roCompat&roCompatMetadataCsum != 0 {
		// ext4 stores crc32c(~0, superblock up to the checksum) without
		// the final inversion that crc32.Checksum applies.
		want := le.Uint32(b[offChecksum:])
		got := ^crc32.Checksum(b[:offChecksum], castagnoli)
		if got != want {
			return nil, "an ext4 superblock whose checksum does not match (the image is corrupt)"
		}
	}
	return sb, ""
}

func cString(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

// notExt4 builds the InvalidArgument error for a file that is not a usable
// ext4 image, naming what the header looks like when it is recognisable.
func notExt4(path string, head []byte, problem string) error {
	if found := sniff(head); found != "" && problem == "no ext4 superblock" {
		problem += "; found " + found
	}
	return errdefs.InvalidArgumentf("%s is not an ext4 filesystem image (%s): %s", path, problem, wrongFormatInstruction)
}
