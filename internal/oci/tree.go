package oci

import (
	"archive/tar"
	"path"
	"strings"
	"time"
)

// inode is one file of the flattened tree: its attributes and, for a
// regular file, where its body lies in the spool. Hard links share one.
type inode struct {
	typ      byte
	mode     int64 // permission, set-id and sticky bits
	uid, gid int
	uname    string
	gname    string
	mtime    time.Time
	linkname string            // symlink target
	xattrs   map[string]string // SCHILY.xattr.* records, name without the prefix
	off      int64             // regular file body in the spool
	size     int64
}

// node is one path of the flattened tree.
type node struct {
	name     string
	parent   *node
	children map[string]*node // directories only
	ino      *inode
}

func (n *node) isDir() bool { return n.ino.typ == tar.TypeDir }

// path returns n's path from the root, "." for the root.
func (n *node) path() string {
	if n.parent == nil {
		return "."
	}
	var parts []string
	for c := n; c.parent != nil; c = c.parent {
		parts = append(parts, c.name)
	}
	for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
		parts[i], parts[j] = parts[j], parts[i]
	}
	return strings.Join(parts, "/")
}

func newDir(name string, parent *node, ino *inode) *node {
	return &node{name: name, parent: parent, children: map[string]*node{}, ino: ino}
}

// inodeOf copies the attributes of hdr that the flattened tree keeps.
func inodeOf(hdr *tar.Header) *inode {
	ino := &inode{
		typ:   hdr.Typeflag,
		mode:  hdr.Mode & 0o7777,
		uid:   hdr.Uid,
		gid:   hdr.Gid,
		uname: hdr.Uname,
		gname: hdr.Gname,
		mtime: hdr.ModTime,
	}
	if hdr.Typeflag == tar.TypeSymlink {
		ino.linkname = hdr.Linkname
	}
	for k, v := range hdr.PAXRecords {
		if name, ok := strings.CutPrefix(k, xattrPrefix); ok {
			if ino.xattrs == nil {
				ino.xattrs = map[string]string{}
			}
			ino.xattrs[name] = v
		}
	}
	return ino
}

const xattrPrefix = "SCHILY.xattr."

// splitPath splits a cleaned relative path into its elements.
func splitPath(p string) []string {
	if p == "." {
		return nil
	}
	return strings.Split(p, "/")
}

func join(dir, name string) string {
	if dir == "." {
		return name
	}
	return path.Join(dir, name)
}
