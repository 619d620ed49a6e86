package oci

import (
	"archive/tar"
	"fmt"
	"io"
	"path"
	"strings"
)

const (
	whiteoutPrefix = ".wh."
	opaqueMarker   = ".wh..wh..opq"
)

// apply adds one entry of the current layer to the tree.
func (f *flattener) apply(hdr *tar.Header, body io.Reader) error {
	if hdr.Typeflag == tar.TypeXGlobalHeader {
		return nil
	}
	name, err := f.cleanName(hdr.Name)
	if err != nil {
		return err
	}
	dir, base := path.Split(name)
	dir = path.Clean(dir)
	if name == "." {
		if hdr.Typeflag != tar.TypeDir {
			return f.refuse(hdr.Name, "names the root but is not a directory")
		}
		f.root.ino = inodeOf(hdr)
		return nil
	}
	if strings.HasPrefix(base, whiteoutPrefix) {
		return f.whiteout(hdr, dir, base)
	}
	if f.written[name] {
		return f.refuse(hdr.Name, "appears twice in the layer")
	}
	parent, err := f.lookupDir(hdr.Name, dir, true, hdr)
	if err != nil {
		return err
	}
	old := parent.children[base]
	var n *node
	switch hdr.Typeflag {
	case tar.TypeDir:
		if old != nil && old.isDir() {
			old.ino = inodeOf(hdr)
			n = old
		} else {
			n = newDir(base, parent, inodeOf(hdr))
		}
	case tar.TypeReg, tar.TypeGNUSparse, tar.TypeCont: // archive/tar reads the old TypeRegA as TypeReg
		ino, err := f.spoolBody(hdr, body)
		if err != nil {
			return err
		}
		n = &node{name: base, parent: parent, ino: ino}
	case tar.TypeSymlink:
		if hdr.Linkname == "" {
			return f.refuse(hdr.Name, "is a symlink with an empty target")
		}
		n = &node{name: base, parent: parent, ino: inodeOf(hdr)}
	case tar.TypeLink:
		ino, err := f.hardLinkTarget(hdr)
		if err != nil {
			return err
		}
		n = &node{name: base, parent: parent, ino: ino}
	case tar.TypeFifo:
		n = &node{name: base, parent: parent, ino: inodeOf(hdr)}
	case tar.TypeChar, tar.TypeBlock:
		if name == "dev" || strings.HasPrefix(name, "dev/") {
			f.stats.DroppedDevices++
			f.markSeen(name)
			return nil
		}
		return f.refuse(hdr.Name, "is a device node outside /dev (device nodes are only dropped under /dev, which the guest mounts a devtmpfs over)")
	default:
		return f.refuse(hdr.Name, "has type %q (only files, directories, symlinks, hard links, fifos and /dev device nodes are taken)", string(rune(hdr.Typeflag)))
	}
	parent.children[base] = n
	f.markSeen(name)
	f.written[name] = true
	return nil
}

// whiteout applies a whiteout or an opaque marker in dir.
func (f *flattener) whiteout(hdr *tar.Header, dir, base string) error {
	parent, err := f.lookupDir(hdr.Name, dir, base == opaqueMarker, hdr)
	if err != nil {
		return err
	}
	if base == opaqueMarker {
		f.opaques = append(f.opaques, parent)
		f.markSeen(dir)
		return nil
	}
	target := strings.TrimPrefix(base, whiteoutPrefix)
	switch {
	case strings.HasPrefix(target, whiteoutPrefix):
		return nil // other aufs metadata (.wh..wh.plnk and the like) carries no files
	case target == "" || target == "." || target == "..":
		return f.refuse(hdr.Name, "whites out %q, which is not a name in its directory", target)
	}
	if parent != nil {
		delete(parent.children, target)
	}
	return nil
}

// spoolBody copies a regular file's body to the spool.
func (f *flattener) spoolBody(hdr *tar.Header, body io.Reader) (*inode, error) {
	if hdr.Size < 0 || hdr.Size > f.opts.MaxBytes-f.spooled {
		return nil, f.refuse(hdr.Name, "is %d bytes, more than the %d bytes left of the image's limit", hdr.Size, f.opts.MaxBytes-f.spooled)
	}
	ino := inodeOf(hdr)
	ino.typ = tar.TypeReg
	ino.off, ino.size = f.spooled, hdr.Size
	n, err := io.Copy(io.NewOffsetWriter(f.spool, f.spooled), io.LimitReader(body, hdr.Size))
	if err == nil && n != hdr.Size {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		return nil, fmt.Errorf("layer %s: read the body of tar entry %q: %w", f.layer, hdr.Name, err)
	}
	f.spooled += n
	return ino, nil
}

// hardLinkTarget returns the file a hard link entry shares.
func (f *flattener) hardLinkTarget(hdr *tar.Header) (*inode, error) {
	if hdr.Linkname == "" || strings.HasPrefix(hdr.Linkname, "/") {
		return nil, f.refuse(hdr.Name, "is a hard link to %q, which is not a relative path in the image", hdr.Linkname)
	}
	for _, el := range strings.Split(hdr.Linkname, "/") {
		if el == ".." {
			return nil, f.refuse(hdr.Name, "is a hard link to %q, which has a \"..\" element", hdr.Linkname)
		}
	}
	target := path.Clean(hdr.Linkname)
	dir, base := path.Split(target)
	parent, err := f.lookupDir(hdr.Name, path.Clean(dir), false, hdr)
	if err != nil {
		return nil, err
	}
	var t *node
	if parent != nil {
		t = parent.children[base]
	}
	switch {
	case t == nil:
		return nil, f.refuse(hdr.Name, "is a hard link to %q, which is not in the image", hdr.Linkname)
	case t.ino.typ != tar.TypeReg && t.ino.typ != tar.TypeFifo:
		return nil, f.refuse(hdr.Name, "is a hard link to %q, which is not a regular file", hdr.Linkname)
	}
	return t.ino, nil
}
