// Package gitindex writes and refreshes git index files (format version 2)
// without hashing file contents: the host writes a plan (the entries of
// a commit's tree, with the modification time and size of each file it
// knows to be unchanged), and Fill completes it with the stat data the
// files have where they were unpacked, so git trusts them as clean. It
// parses untrusted input (a plan read back from a guest) without panics and
// never touches the file system.
package gitindex

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"io/fs"
	"sort"
	"syscall"

	"banger/internal/errdefs"
)

// Git's file modes in an index entry.
const (
	ModeRegular    = 0o100644
	ModeExecutable = 0o100755
	ModeSymlink    = 0o120000
)

// Stat is what git records of a file to tell later whether it changed,
// truncated to 32 bits as git does.
type Stat struct {
	CtimeSec, CtimeNsec uint32
	MtimeSec, MtimeNsec uint32
	Dev, Ino            uint32
	UID, GID            uint32
	Size                uint32
	Executable          bool // the owner's execute bit is set, as git reads it; only Fill uses it
}

// Entry is one path of the index, at stage 0.
type Entry struct {
	Path string
	Mode uint32 // ModeRegular, ModeExecutable or ModeSymlink
	OID  []byte // the blob's id: 20 bytes (SHA-1) or 32 (SHA-256)
	// Stat is zero for a path git must check by content. In a plan, a
	// regular file known to be unchanged carries its modification time and
	// size; Fill completes the rest.
	Stat Stat
}

// ParseOID decodes a hexadecimal object id of either hash.
func ParseOID(s string) ([]byte, error) {
	if len(s) != 2*sha1.Size && len(s) != 2*sha256.Size {
		return nil, errdefs.InvalidArgumentf("object id %q has %d digits, want 40 or 64", s, len(s))
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, errdefs.InvalidArgumentf("object id %q: %w", s, err)
	}
	return b, nil
}

const (
	signature  = "DIRC"
	version    = 2
	headerSize = 12
	statSize   = 40 // ten 32-bit fields before the object id
	maxNameLen = 0xfff
)

func newHash(oidSize int) (hash.Hash, error) {
	switch oidSize {
	case sha1.Size:
		return sha1.New(), nil
	case sha256.Size:
		return sha256.New(), nil
	}
	return nil, errdefs.InvalidArgumentf("object ids of %d bytes: git uses 20 (SHA-1) or 32 (SHA-256)", oidSize)
}

// Encode writes entries as an index file of version 2, sorted by path as
// git requires. Every object id must have the size oidSize.
func Encode(entries []Entry, oidSize int) ([]byte, error) {
	h, err := newHash(oidSize)
	if err != nil {
		return nil, err
	}
	sorted := make([]Entry, len(entries))
	copy(sorted, entries)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Path < sorted[j].Path })
	var b bytes.Buffer
	b.WriteString(signature)
	_ = binary.Write(&b, binary.BigEndian, [2]uint32{version, uint32(len(sorted))})
	for i, e := range sorted {
		if i > 0 && e.Path == sorted[i-1].Path {
			return nil, errdefs.InvalidArgumentf("index entry %q appears twice", e.Path)
		}
		if e.Path == "" || bytes.IndexByte([]byte(e.Path), 0) >= 0 {
			return nil, errdefs.InvalidArgumentf("index entry %q: a path must be non-empty and hold no NUL", e.Path)
		}
		if len(e.OID) != oidSize {
			return nil, errdefs.InvalidArgumentf("index entry %q: object id of %d bytes, want %d", e.Path, len(e.OID), oidSize)
		}
		switch e.Mode {
		case ModeRegular, ModeExecutable, ModeSymlink:
		default:
			return nil, errdefs.InvalidArgumentf("index entry %q: mode %o is not a file's or a symlink's", e.Path, e.Mode)
		}
		s := e.Stat
		_ = binary.Write(&b, binary.BigEndian, [10]uint32{s.CtimeSec, s.CtimeNsec, s.MtimeSec, s.MtimeNsec, s.Dev, s.Ino, e.Mode, s.UID, s.GID, s.Size})
		b.Write(e.OID)
		_ = binary.Write(&b, binary.BigEndian, uint16(min(len(e.Path), maxNameLen)))
		b.WriteString(e.Path)
		// NUL-padded to a multiple of 8 bytes, with at least one NUL.
		n := statSize + oidSize + 2 + len(e.Path)
		b.Write(make([]byte, 8-n%8))
	}
	h.Write(b.Bytes())
	b.Write(h.Sum(nil))
	return b.Bytes(), nil
}

// Decode reads an index file as Encode writes it: version 2, stage 0
// entries, no extensions, a valid checksum. Anything else is refused with
// an invalid_argument error.
func Decode(data []byte, oidSize int) ([]Entry, error) {
	h, err := newHash(oidSize)
	if err != nil {
		return nil, err
	}
	if len(data) < headerSize+oidSize || string(data[:4]) != signature {
		return nil, errdefs.InvalidArgumentf("not a git index file (%d bytes)", len(data))
	}
	body, sum := data[:len(data)-oidSize], data[len(data)-oidSize:]
	h.Write(body)
	if !bytes.Equal(h.Sum(nil), sum) {
		return nil, errdefs.InvalidArgumentf("git index file: checksum mismatch")
	}
	if v := binary.BigEndian.Uint32(body[4:]); v != version {
		return nil, errdefs.InvalidArgumentf("git index file of version %d, want %d", v, version)
	}
	count := binary.BigEndian.Uint32(body[8:])
	rest := body[headerSize:]
	fixed := statSize + oidSize + 2
	// Every entry takes at least fixed+2 bytes: a bound before allocating.
	if uint64(count) > uint64(len(rest)/(fixed+2)) {
		return nil, errdefs.InvalidArgumentf("git index file claims %d entries in %d bytes", count, len(rest))
	}
	entries := make([]Entry, 0, count)
	for range count {
		if len(rest) < fixed+1 {
			return nil, errdefs.InvalidArgumentf("git index file: entry %d truncated", len(entries))
		}
		var f [10]uint32
		for i := range f {
			f[i] = binary.BigEndian.Uint32(rest[4*i:])
		}
		oid := append([]byte(nil), rest[statSize:statSize+oidSize]...)
		flags := binary.BigEndian.Uint16(rest[statSize+oidSize:])
		if flags&^maxNameLen != 0 {
			return nil, errdefs.InvalidArgumentf("git index file: entry %d has flags %#x (stages and extended flags are not supported)", len(entries), flags)
		}
		nul := bytes.IndexByte(rest[fixed:], 0)
		if nul <= 0 {
			return nil, errdefs.InvalidArgumentf("git index file: entry %d has no name", len(entries))
		}
		name := string(rest[fixed : fixed+nul])
		if n := int(flags); n < maxNameLen && n != len(name) {
			return nil, errdefs.InvalidArgumentf("git index file: entry %q has name length %d in its flags", name, n)
		}
		size := fixed + len(name)
		size += 8 - size%8
		if size > len(rest) {
			return nil, errdefs.InvalidArgumentf("git index file: entry %q truncated", name)
		}
		e := Entry{Path: name, Mode: f[6], OID: oid, Stat: Stat{CtimeSec: f[0], CtimeNsec: f[1], MtimeSec: f[2], MtimeNsec: f[3],
			Dev: f[4], Ino: f[5], UID: f[7], GID: f[8], Size: f[9]}}
		switch e.Mode {
		case ModeRegular, ModeExecutable, ModeSymlink:
		default:
			return nil, errdefs.InvalidArgumentf("git index file: entry %q has mode %o", name, e.Mode)
		}
		if len(entries) > 0 && entries[len(entries)-1].Path >= name {
			return nil, errdefs.InvalidArgumentf("git index file: entry %q is out of order", name)
		}
		entries = append(entries, e)
		rest = rest[size:]
	}
	if len(rest) != 0 {
		return nil, errdefs.InvalidArgumentf("git index file: %d bytes after the entries (extensions are not supported)", len(rest))
	}
	return entries, nil
}

// Fill completes a plan with the stat data of the files as they are now:
// an entry that carries a modification time (a file the plan's writer
// knew to be unchanged) gets the whole of stat's answer when stat finds a
// regular file of the same size, modification time (to the second where
// the file has no fraction) and execute bit;
// every other entry gets zero stat data, so git compares its content. It
// returns the index to write and how many entries it filled.
func Fill(plan []byte, oidSize int, stat func(path string) (Stat, bool)) ([]byte, int, error) {
	entries, err := Decode(plan, oidSize)
	if err != nil {
		return nil, 0, err
	}
	filled := 0
	for i := range entries {
		e := &entries[i]
		want := e.Stat
		e.Stat = Stat{}
		if e.Mode == ModeSymlink || (want.MtimeSec == 0 && want.MtimeNsec == 0) {
			continue
		}
		got, ok := stat(e.Path)
		// A file system that keeps whole seconds drops the fraction.
		sameMtime := got.MtimeSec == want.MtimeSec && (got.MtimeNsec == want.MtimeNsec || got.MtimeNsec == 0)
		if !ok || !sameMtime || got.Size != want.Size || got.Executable != (e.Mode == ModeExecutable) {
			continue
		}
		got.Executable = false
		e.Stat = got
		filled++
	}
	out, err := Encode(entries, oidSize)
	return out, filled, err
}

// FromFileInfo is the stat data of fi, which must come from os.Lstat or
// os.Stat on Linux; ok is false otherwise.
func FromFileInfo(fi fs.FileInfo) (s Stat, ok bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return Stat{}, false
	}
	return Stat{
		CtimeSec: uint32(st.Ctim.Sec), CtimeNsec: uint32(st.Ctim.Nsec),
		MtimeSec: uint32(st.Mtim.Sec), MtimeNsec: uint32(st.Mtim.Nsec),
		Dev: uint32(st.Dev), Ino: uint32(st.Ino), UID: st.Uid, GID: st.Gid,
		Size: uint32(st.Size), Executable: fi.Mode()&0o100 != 0,
	}, true
}
