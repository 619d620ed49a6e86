package oci

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"banger/internal/errdefs"
)

// Layer is one layer to flatten: its digests and a way to read its blob
// (compressed with gzip or zstd, or a plain tar).
type Layer struct {
	Digest string // sha256:… of the blob as stored
	DiffID string // sha256:… of the uncompressed tar
	Open   func() (io.ReadCloser, error)
}

// FlattenOptions bound and place a flattening.
type FlattenOptions struct {
	// TempDir holds the spool of file bodies while the tree is built; the
	// spool is removed before Flatten returns.
	TempDir string
	// MaxBytes bounds the file bodies read from all layers together
	// (DefaultMaxBytes when zero), so a huge or sparse entry is refused
	// before it fills the disk.
	MaxBytes int64
	// MaxEntries bounds the entries read from all layers together
	// (DefaultMaxEntries when zero).
	MaxEntries int
}

// Limits of a flattening when FlattenOptions leaves them zero.
const (
	DefaultMaxBytes   = 64 << 30
	DefaultMaxEntries = 4 << 20
)

// FlattenStats describes a flattened tree.
type FlattenStats struct {
	Entries        int   // entries written, one per final path
	Bytes          int64 // file body bytes written
	DroppedDevices int   // device nodes under dev/ that were left out
}

// Flatten applies layers oldest first and writes the resulting tree to w
// as one tar stream: one entry per final path, parents before children,
// in path order, hard links pointing to the first path of their file.
// Every layer's blob digest and diff id are checked as it is read; a
// mismatch or a hostile entry stops the flattening with an error naming
// the layer and the entry, before anything is written to w.
//
// The policy: names must be relative with no ".." element; no entry may
// be written through a symlink (a symlink planted by an earlier entry or
// layer is replaced only by an entry at its own path); hard links must
// name a file already in the tree, by a path that does not go through a
// symlink; whiteouts (.wh.NAME) remove NAME from the layers below and
// opaque markers (.wh..wh..opq) their directory's lower contents;
// character and block devices under dev/ are dropped (the guest mounts a
// devtmpfs there) and refused anywhere else; fifos are kept; a path may
// appear once per layer. Owners, modes with set-id and sticky bits,
// modification times and SCHILY.xattr.* records (security.capability
// included) are kept.
func Flatten(ctx context.Context, layers []Layer, w io.Writer, o FlattenOptions) (FlattenStats, error) {
	if o.MaxBytes == 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.MaxEntries == 0 {
		o.MaxEntries = DefaultMaxEntries
	}
	spool, err := os.CreateTemp(o.TempDir, "flatten-*.spool")
	if err != nil {
		return FlattenStats{}, fmt.Errorf("create the flattening spool in %s: %w", o.TempDir, err)
	}
	defer func() {
		spool.Close()
		os.Remove(spool.Name())
	}()
	f := &flattener{
		root:  newDir("", nil, &inode{typ: tar.TypeDir, mode: 0o755}),
		spool: spool,
		opts:  o,
	}
	for _, l := range layers {
		if err := ctx.Err(); err != nil {
			return FlattenStats{}, err
		}
		if err := f.applyLayer(ctx, l); err != nil {
			return FlattenStats{}, err
		}
	}
	if err := f.write(w); err != nil {
		return FlattenStats{}, err
	}
	return f.stats, nil
}

// flattener is the state of one Flatten: the tree so far and the spool of
// file bodies.
type flattener struct {
	root    *node
	spool   *os.File
	spooled int64
	read    int // entries read
	opts    FlattenOptions
	stats   FlattenStats

	// Per layer.
	layer   string
	seen    map[string]bool // paths written by this layer, and their parents
	written map[string]bool // paths written by this layer
	opaques []*node
}

// refuse is the error for a hostile or broken entry.
func (f *flattener) refuse(entry, format string, args ...any) error {
	return errdefs.InvalidArgumentf("layer %s: tar entry %q %s: refused", f.layer, entry, fmt.Sprintf(format, args...))
}

func (f *flattener) applyLayer(ctx context.Context, l Layer) error {
	f.layer = l.Digest
	f.seen = map[string]bool{}
	f.written = map[string]bool{}
	f.opaques = nil
	rc, err := l.Open()
	if err != nil {
		return fmt.Errorf("open layer %s: %w", l.Digest, err)
	}
	defer rc.Close()
	vr, err := newVerifiedReader(rc, l.Digest, l.DiffID)
	if err != nil {
		return err
	}
	defer vr.Close()
	tr := tar.NewReader(vr)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return vr.Blame(errdefs.InvalidArgumentf("layer %s: read the tar stream after %d entries: %w", l.Digest, f.read, err))
		}
		f.read++
		if f.read > f.opts.MaxEntries {
			return errdefs.InvalidArgumentf("layer %s: more than %d entries in the image: refused", l.Digest, f.opts.MaxEntries)
		}
		if err := f.apply(hdr, tr); err != nil {
			return vr.Blame(err)
		}
	}
	if err := vr.Verify(); err != nil {
		return err
	}
	for _, d := range f.opaques {
		f.dropLower(d, d.path())
	}
	return nil
}

// cleanName checks an entry's name and returns it cleaned ("." for the
// root).
func (f *flattener) cleanName(name string) (string, error) {
	if name == "" {
		return "", f.refuse(name, "has an empty name")
	}
	if strings.HasPrefix(name, "/") {
		return "", f.refuse(name, "has an absolute name")
	}
	if strings.ContainsRune(name, 0) {
		return "", f.refuse(name, "has a NUL byte in its name")
	}
	for _, el := range strings.Split(name, "/") {
		if el == ".." {
			return "", f.refuse(name, "has a \"..\" element")
		}
	}
	return path.Clean(name), nil
}

// lookupDir resolves the directory dir (a cleaned path) in the tree
// without following any symlink. With create, missing directories are
// made (owned by root, mode 0755, times of the entry); without it a
// missing directory returns nil.
func (f *flattener) lookupDir(entry, dir string, create bool, hdr *tar.Header) (*node, error) {
	cur := f.root
	for i, el := range splitPath(dir) {
		next, ok := cur.children[el]
		switch {
		case !ok && !create:
			return nil, nil
		case !ok:
			ino := &inode{typ: tar.TypeDir, mode: 0o755, mtime: hdr.ModTime}
			next = newDir(el, cur, ino)
			cur.children[el] = next
		case next.ino.typ == tar.TypeSymlink:
			return nil, f.refuse(entry, "would be written through the symlink %s", strings.Join(splitPath(dir)[:i+1], "/"))
		case !next.isDir():
			return nil, f.refuse(entry, "lies under %s, which is not a directory", strings.Join(splitPath(dir)[:i+1], "/"))
		}
		cur = next
	}
	return cur, nil
}

// markSeen records p and its parents as written by the current layer.
func (f *flattener) markSeen(p string) {
	for p != "." && !f.seen[p] {
		f.seen[p] = true
		p = path.Dir(p)
	}
}

// dropLower removes, under the opaque directory d (path p), everything
// the current layer did not write.
func (f *flattener) dropLower(d *node, p string) {
	for name, ch := range d.children {
		cp := join(p, name)
		if !f.seen[cp] {
			delete(d.children, name)
			continue
		}
		if ch.isDir() {
			f.dropLower(ch, cp)
		}
	}
}
