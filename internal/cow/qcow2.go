package cow

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"

	"banger/internal/disk"
	"banger/internal/errdefs"
)

// Disk formats, as Format reports them.
const (
	FormatRaw   = "raw"
	FormatQCOW2 = "qcow2"
)

// formatSuffix names the file next to a disk that records its format when
// it is not raw, and for an overlay which image it reads. The format is
// never guessed from a disk's content: a guest writes its raw disk and
// could plant a qcow2 header naming any host file as its backing file.
// The daemon alone writes this file.
const formatSuffix = ".format"

// formatRecord is the content of a disk's format file.
type formatRecord struct {
	Format string `json:"format"`
	// Image is an overlay's backing file and its identity when the
	// overlay was made: a registered image is the user's file, and an
	// overlay of a file that changed reads a mix of old and new.
	Image string `json:"image,omitempty"`
	Dev   uint64 `json:"dev,omitempty"`
	Ino   uint64 `json:"ino,omitempty"`
	Size  int64  `json:"size,omitempty"`
	MTime int64  `json:"mtime_ns,omitempty"`
}

// readRecord reads the format record of the disk at path; a disk without
// one is raw.
func readRecord(path string) (formatRecord, error) {
	b, err := os.ReadFile(path + formatSuffix)
	if errors.Is(err, os.ErrNotExist) {
		return formatRecord{Format: FormatRaw}, nil
	}
	if err != nil {
		return formatRecord{}, fmt.Errorf("read the format of %s: %w", path, err)
	}
	var r formatRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return formatRecord{}, errdefs.FailedPreconditionf("%s%s is damaged (%v): remove the VM and create it again", path, formatSuffix, err)
	}
	switch r.Format {
	case FormatQCOW2, FormatRaw:
		return r, nil
	default:
		return formatRecord{}, errdefs.FailedPreconditionf("%s%s names an unknown disk format %q: remove the VM and create it again", path, formatSuffix, r.Format)
	}
}

// Format reports the format of the disk at path: FormatQCOW2 for an
// overlay made by the qcow2 strategy (or a copy of one), else FormatRaw.
func Format(path string) (string, error) {
	r, err := readRecord(path)
	return r.Format, err
}

// CheckImage fails when the disk at path is an overlay whose image is gone
// or is no longer the file it was made from (edited in place, replaced):
// booting it would read a mix of both. A raw disk passes.
func CheckImage(path string) error {
	r, err := readRecord(path)
	if err != nil || r.Format != FormatQCOW2 {
		return err
	}
	now, err := imageIdentity(r.Image)
	if err != nil {
		return errdefs.FailedPreconditionf("the root disk %s is a qcow2 overlay of the image file %s, which is gone (%v): put the image back, or delete the VM", path, r.Image, err)
	}
	if now != r {
		return errdefs.FailedPreconditionf("the image file %s changed since the qcow2 overlay %s was made of it: the VM would read a mix of both; put the image back as it was, or delete the VM and create it again", r.Image, path)
	}
	return nil
}

// imageIdentity is the record of an overlay of image: its path and the
// identity of the file there now.
func imageIdentity(image string) (formatRecord, error) {
	fi, err := os.Stat(image)
	if err != nil {
		return formatRecord{}, err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || !fi.Mode().IsRegular() {
		return formatRecord{}, errdefs.InvalidArgumentf("%s is not a regular file: only image files can be cloned", image)
	}
	return formatRecord{Format: FormatQCOW2, Image: image, Dev: st.Dev, Ino: st.Ino, Size: fi.Size(), MTime: fi.ModTime().UnixNano()}, nil
}

// ImageCloner is implemented by strategies whose clone of an image refers
// to the image instead of holding its data (qcow2): such a clone is only
// right when the source is never written again, which holds for images
// and not for VM disks. CloneImage says which.
type ImageCloner interface {
	// CloneImage makes dst a disk that reads as image until written,
	// as Clone does, where image is never written again.
	CloneImage(ctx context.Context, image, dst string) error
}

// CloneImage makes dst, a VM's root disk, a copy-on-write clone of image
// with s: an overlay where s makes them, else s.Clone.
func CloneImage(ctx context.Context, s Strategy, image, dst string) error {
	if ic, ok := s.(ImageCloner); ok {
		return ic.CloneImage(ctx, image, dst)
	}
	return s.Clone(ctx, image, dst)
}

// CloneDisk is s.Clone of a VM's disk (for a snapshot), keeping its
// format: the copy of a qcow2 overlay is a qcow2 overlay of the same
// image, whichever strategy the daemon uses now.
func CloneDisk(ctx context.Context, s Strategy, src, dst string) error {
	return cloneKeepingFormat(ctx, s.Clone, src, dst)
}

// cloneKeepingFormat runs clone and gives dst src's format record. The
// record goes first and is removed with dst when the clone fails, so a
// qcow2 disk is never seen without it.
func cloneKeepingFormat(ctx context.Context, clone func(ctx context.Context, src, dst string) error, src, dst string) error {
	r, err := readRecord(src)
	if err != nil {
		return err
	}
	if r.Format == FormatRaw {
		if err := removeFile(dst + formatSuffix); err != nil {
			return err
		}
		return clone(ctx, src, dst)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := writeRecord(dst, r); err != nil {
		return err
	}
	if err := clone(ctx, src, dst); err != nil {
		return errors.Join(err, removeFile(dst+formatSuffix))
	}
	return nil
}

// writeRecord records dst's format.
func writeRecord(dst string, r formatRecord) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if err := os.WriteFile(dst+formatSuffix, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("record the format of %s: %w", dst, err)
	}
	return nil
}

// qcow2Overlays makes each VM's root disk a qcow2 file whose backing file
// is the image (raw, opened read-only by qemu): creating one writes a few
// hundred bytes whatever the image's size. Only qemu reads qcow2, so it is
// for the qemu driver, when nothing better exists. A clone of a VM disk
// (a snapshot) is a sparse copy: of the overlay, still backed by the
// image, or of a raw disk.
type qcow2Overlays struct{}

func (qcow2Overlays) Name() string { return NameQCOW2 }
func (qcow2Overlays) Dir() string  { return "" }

func (qcow2Overlays) Clone(ctx context.Context, src, dst string) error {
	return cloneKeepingFormat(ctx, disk.SparseCopy, src, dst)
}

func (qcow2Overlays) CloneImage(ctx context.Context, image, dst string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f, err := Format(image)
	if err != nil {
		return err
	}
	if f != FormatRaw {
		return errdefs.InvalidArgumentf("image %s is %s: a qcow2 overlay's backing file must be a raw image", image, f)
	}
	rec, err := imageIdentity(image)
	if err != nil {
		return fmt.Errorf("image %s: %w", image, err)
	}
	hdr, err := qcow2Header(image, rec.Size)
	if err != nil {
		return err
	}
	if err := writeRecord(dst, rec); err != nil {
		return err
	}
	if err := writeNew(dst, hdr.bytes, hdr.fileSize); err != nil {
		return errors.Join(err, removeFile(dst+formatSuffix))
	}
	return nil
}

func (qcow2Overlays) Remove(path string) error { return removeFile(path) }

// Usage of an overlay: Apparent is the size of the disk it holds,
// Allocated the blocks of the overlay itself (the image's are not its).
func (qcow2Overlays) Usage(path string) (Usage, error) {
	u, err := fileUsage(path)
	if err != nil {
		return Usage{}, err
	}
	if f, err := Format(path); err != nil || f != FormatQCOW2 {
		return u, err
	}
	file, err := os.Open(path)
	if err != nil {
		return Usage{}, fmt.Errorf("space used by %s: %w", path, err)
	}
	defer file.Close()
	if u.Apparent, err = qcow2VirtualSize(file); err != nil {
		return Usage{}, fmt.Errorf("size of the disk in %s: %w", path, err)
	}
	return u, nil
}

// writeNew writes data at the start of a file of size bytes under a
// temporary name and renames it to dst. Pages of data that are all zero,
// and the rest of the file, are left holes.
func writeNew(dst string, data []byte, size int64) error {
	f, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".tmp-*")
	if err != nil {
		return fmt.Errorf("create %s: %w", dst, err)
	}
	tmp := f.Name()
	terr := f.Truncate(size)
	var werr error
	const page = 4096
	for off := 0; off < len(data) && werr == nil; off += page {
		p := data[off:min(off+page, len(data))]
		if !bytes.Equal(p, make([]byte, len(p))) {
			_, werr = f.WriteAt(p, int64(off))
		}
	}
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, terr, serr, cerr); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", dst, err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("rename %s: %w", tmp, err)
	}
	return nil
}

// The qcow2 layout banger writes (version 3, as qemu-img create -f qcow2
// -b IMAGE -F raw does): cluster 0 holds the header, its extensions and
// the backing file's name; cluster 1 the refcount table; cluster 2 its one
// refcount block; the L1 table follows, all zero (no cluster is allocated:
// every read goes to the backing file until the guest writes).
const (
	qcow2Magic         = "QFI\xfb"
	qcow2Version       = 3
	qcow2ClusterBits   = 16
	qcow2ClusterSize   = 1 << qcow2ClusterBits
	qcow2HeaderLength  = 112 // the version 3 header with its compression type and padding
	qcow2RefcountBits  = 16  // refcount_order 4
	qcow2ExtBackingFmt = 0xE2792ACA
	// maxBackingName is qemu's limit on the backing file's name.
	maxBackingName = 1023
)

type qcow2File struct {
	bytes    []byte // the non-zero start of the file
	fileSize int64
}

// qcow2Header lays out an empty overlay of the raw image at path (an
// absolute path: a relative one would be read relative to the overlay, and
// one with a "protocol:" prefix as a network address) of size bytes.
func qcow2Header(path string, size int64) (qcow2File, error) {
	switch {
	case !filepath.IsAbs(path) || filepath.Clean(path) != path:
		return qcow2File{}, errdefs.InvalidArgumentf("backing file %q is not an absolute, clean path", path)
	case len(path) > maxBackingName:
		return qcow2File{}, errdefs.InvalidArgumentf("backing file %s is longer than the %d bytes qcow2 allows: use a shorter state directory", path, maxBackingName)
	case size <= 0:
		return qcow2File{}, errdefs.InvalidArgumentf("image %s is empty", path)
	}
	// Each L2 table (one cluster of 8-byte entries) maps 8192 clusters.
	const l2Span = int64(qcow2ClusterSize/8) * qcow2ClusterSize
	l1Size := (size + l2Span - 1) / l2Span
	l1Bytes := l1Size * 8
	l1Clusters := (l1Bytes + qcow2ClusterSize - 1) / qcow2ClusterSize
	const refTable, refBlock, l1Table = 1 * qcow2ClusterSize, 2 * qcow2ClusterSize, 3 * qcow2ClusterSize
	clusters := 3 + l1Clusters
	if clusters > qcow2ClusterSize*8/qcow2RefcountBits {
		return qcow2File{}, errdefs.InvalidArgumentf("image %s (%d bytes) is too large for a qcow2 overlay", path, size)
	}

	var b bytes.Buffer
	be := binary.BigEndian
	put32 := func(v uint32) { b.Write(be.AppendUint32(nil, v)) }
	put64 := func(v uint64) { b.Write(be.AppendUint64(nil, v)) }
	// Extensions: the backing file's format, then the end mark.
	ext := func(typ uint32, data []byte) {
		put32(typ)
		put32(uint32(len(data)))
		b.Write(data)
		b.Write(make([]byte, (8-len(data)%8)%8))
	}
	extLen := 8 + 8 + 8 // "raw" padded to 8, then the end mark
	backingOff := qcow2HeaderLength + extLen

	b.WriteString(qcow2Magic)
	put32(qcow2Version)
	put64(uint64(backingOff))
	put32(uint32(len(path)))
	put32(qcow2ClusterBits)
	put64(uint64(size))
	put32(0) // no encryption
	put32(uint32(l1Size))
	put64(l1Table)
	put64(refTable)
	put32(1) // refcount table clusters
	put32(0) // snapshots
	put64(0) // snapshots offset
	put64(0) // incompatible features
	put64(0) // compatible features
	put64(0) // autoclear features
	put32(4) // refcount order: 16-bit refcounts
	put32(qcow2HeaderLength)
	b.WriteByte(0)           // compression type: zlib
	b.Write(make([]byte, 7)) // padding to 112
	ext(qcow2ExtBackingFmt, []byte(FormatRaw))
	ext(0, nil)
	b.WriteString(path)
	if b.Len() > qcow2ClusterSize {
		return qcow2File{}, fmt.Errorf("qcow2 header of %s overflows its cluster", path)
	}

	out := make([]byte, refBlock+clusters*qcow2RefcountBits/8)
	copy(out, b.Bytes())
	be.PutUint64(out[refTable:], refBlock)
	for i := int64(0); i < clusters; i++ {
		be.PutUint16(out[refBlock+2*i:], 1)
	}
	return qcow2File{bytes: out, fileSize: l1Table + l1Bytes}, nil
}

// qcow2VirtualSize reads the size of the disk a qcow2 file holds.
func qcow2VirtualSize(r io.ReaderAt) (int64, error) {
	var h [32]byte
	if _, err := r.ReadAt(h[:], 0); err != nil {
		return 0, err
	}
	if string(h[:4]) != qcow2Magic {
		return 0, errors.New("not a qcow2 file")
	}
	return int64(binary.BigEndian.Uint64(h[24:])), nil
}
