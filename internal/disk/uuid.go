package disk

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
)

// Superblock fields and features setUUID needs beyond ext4.go's.
const (
	offFirstDataBlock   = 0x14
	offBackupBGs        = 0x24C
	compatSparseSuper2  = 0x0200
	roCompatSparseSuper = 0x0001
	incompatCsumSeed    = 0x2000
)

// setUUID gives the ext4 filesystem in f a fresh random UUID by rewriting
// every copy of its superblock (the primary and the backups), which is
// all "tune2fs -U random" writes on a filesystem with metadata_csum_seed:
// the other metadata checksums use the seed, not the UUID. ok is false,
// and nothing is written, for a filesystem without metadata_csum_seed (its
// group descriptor or metadata checksums depend on the UUID): the caller
// runs tune2fs then.
func setUUID(f *os.File) (ok bool, err error) {
	primary := make([]byte, sbSize)
	if _, err := f.ReadAt(primary, sbOffset); err != nil {
		return false, fmt.Errorf("read the superblock of %s: %w", f.Name(), err)
	}
	sb, problem := parseSuperblock(primary)
	if problem != "" {
		return false, fmt.Errorf("%s: %s", f.Name(), problem)
	}
	if sb.incompat&incompatCsumSeed == 0 || sb.roCompat&roCompatMetadataCsum == 0 {
		return false, nil
	}
	var uuid [16]byte
	if _, err := rand.Read(uuid[:]); err != nil {
		return false, err
	}
	uuid[6] = uuid[6]&0x0f | 0x40 // version 4
	uuid[8] = uuid[8]&0x3f | 0x80 // RFC 4122 variant
	for _, off := range superblockCopies(sb, primary) {
		b := make([]byte, sbSize)
		if _, err := f.ReadAt(b, off); err != nil {
			return false, fmt.Errorf("read the superblock copy at byte %d of %s: %w", off, f.Name(), err)
		}
		if binary.LittleEndian.Uint16(b[offMagic:]) != ext4Magic {
			return false, fmt.Errorf("%s: no superblock copy at byte %d where the filesystem's layout puts one", f.Name(), off)
		}
		copy(b[offUUID:], uuid[:])
		binary.LittleEndian.PutUint32(b[offChecksum:], ^crc32.Checksum(b[:offChecksum], castagnoli))
		if _, err := f.WriteAt(b, off); err != nil {
			return false, fmt.Errorf("write the superblock copy at byte %d of %s: %w", off, f.Name(), err)
		}
	}
	return true, nil
}

// superblockCopies returns the byte offsets of every superblock copy of
// the filesystem whose primary superblock is b: the primary, then one at
// the start of each block group that holds a backup (all groups; with
// sparse_super groups 0, 1 and powers of 3, 5 and 7; with sparse_super2
// the two groups it names).
func superblockCopies(sb *superblock, b []byte) []int64 {
	le := binary.LittleEndian
	first := uint64(le.Uint32(b[offFirstDataBlock:]))
	groups := (sb.blocks - first + uint64(sb.blocksPerGrp) - 1) / uint64(sb.blocksPerGrp)
	has := func(g uint64) bool { return true }
	switch {
	case sb.compat&compatSparseSuper2 != 0:
		b1, b2 := uint64(le.Uint32(b[offBackupBGs:])), uint64(le.Uint32(b[offBackupBGs+4:]))
		has = func(g uint64) bool { return g != 0 && (g == b1 || g == b2) }
	case sb.roCompat&roCompatSparseSuper != 0:
		has = func(g uint64) bool { return g == 1 || isPower(g, 3) || isPower(g, 5) || isPower(g, 7) }
	}
	offs := []int64{sbOffset}
	for g := uint64(1); g < groups; g++ {
		if has(g) {
			offs = append(offs, int64((g*uint64(sb.blocksPerGrp)+first)*uint64(sb.blockSize)))
		}
	}
	return offs
}

// isPower reports whether g is a power of base (base^0 = 1 included).
func isPower(g, base uint64) bool {
	p := uint64(1)
	for p < g {
		p *= base
	}
	return p == g
}
