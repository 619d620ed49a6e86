package oci

import (
	"archive/tar"
	"fmt"
	"io"
	"slices"
)

// write emits the tree as a tar stream, parents first, in path order.
func (f *flattener) write(w io.Writer) error {
	tw := tar.NewWriter(w)
	first := map[*inode]string{} // a file's first path, for hard links
	if err := f.writeNode(tw, f.root, ".", first); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("write the flattened tree: %w", err)
	}
	return nil
}

func (f *flattener) writeNode(tw *tar.Writer, n *node, p string, first map[*inode]string) error {
	ino := n.ino
	hdr := &tar.Header{
		Typeflag: ino.typ,
		Name:     p,
		Mode:     ino.mode,
		Uid:      ino.uid,
		Gid:      ino.gid,
		Uname:    ino.uname,
		Gname:    ino.gname,
		ModTime:  ino.mtime,
		Format:   tar.FormatPAX,
	}
	if len(ino.xattrs) > 0 {
		hdr.PAXRecords = map[string]string{}
		for k, v := range ino.xattrs {
			hdr.PAXRecords[xattrPrefix+k] = v
		}
	}
	switch ino.typ {
	case tar.TypeDir:
		hdr.Name = p + "/"
		if p == "." {
			hdr.Name = "./"
		}
	case tar.TypeSymlink:
		hdr.Linkname = ino.linkname
	case tar.TypeReg, tar.TypeFifo:
		if fp, ok := first[ino]; ok {
			hdr = &tar.Header{Typeflag: tar.TypeLink, Name: p, Linkname: fp, Mode: ino.mode, Uid: ino.uid, Gid: ino.gid,
				ModTime: ino.mtime, Format: tar.FormatPAX}
		} else {
			first[ino] = p
			if ino.typ == tar.TypeReg {
				hdr.Size = ino.size
			}
		}
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("write the flattened entry %q: %w", p, err)
	}
	f.stats.Entries++
	if hdr.Typeflag == tar.TypeReg && hdr.Size > 0 {
		if _, err := io.Copy(tw, io.NewSectionReader(f.spool, ino.off, ino.size)); err != nil {
			return fmt.Errorf("write the body of the flattened entry %q: %w", p, err)
		}
		f.stats.Bytes += ino.size
	}
	if ino.typ != tar.TypeDir {
		return nil
	}
	names := make([]string, 0, len(n.children))
	for name := range n.children {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if err := f.writeNode(tw, n.children[name], join(p, name), first); err != nil {
			return err
		}
	}
	return nil
}
