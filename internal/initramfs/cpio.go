package initramfs

import (
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
)

// cpioTrailer names the entry that ends a cpio archive.
const cpioTrailer = "TRAILER!!!"

// maxCPIOFile bounds one file: the newc header has 8 hex digits of size.
const maxCPIOFile = 1<<32 - 1

// CPIOWriter writes a newc ("070701") cpio archive, the format the kernel
// unpacks into its initial rootfs. Every entry belongs to root and has
// modification time 0, so the same input makes the same archive.
type CPIOWriter struct {
	w      io.Writer
	ino    uint32
	closed bool
	err    error
	rdev   [2]uint32 // of the entry being written
}

// NewCPIOWriter returns a writer of a cpio archive to w.
func NewCPIOWriter(w io.Writer) *CPIOWriter { return &CPIOWriter{w: w} }

// Dir adds a directory.
func (c *CPIOWriter) Dir(name string, perm fs.FileMode) error {
	return c.entry(name, 0o040000|uint32(perm.Perm()), 2, nil)
}

// CharDev adds a character device node (the kernel creates it when it
// unpacks the archive, as root, so no privilege is needed here).
func (c *CPIOWriter) CharDev(name string, perm fs.FileMode, major, minor uint32) error {
	c.rdev = [2]uint32{major, minor}
	defer func() { c.rdev = [2]uint32{} }()
	return c.entry(name, 0o020000|uint32(perm.Perm()), 1, nil)
}

// File adds a regular file with data.
func (c *CPIOWriter) File(name string, perm fs.FileMode, data []byte) error {
	if int64(len(data)) > maxCPIOFile {
		return fmt.Errorf("cpio: %s is %d bytes, more than a newc archive holds", name, len(data))
	}
	return c.entry(name, 0o100000|uint32(perm.Perm()), 1, data)
}

// Close writes the trailer. It does not close the underlying writer.
func (c *CPIOWriter) Close() error {
	if c.closed {
		return c.err
	}
	err := c.write(cpioTrailer, 0, 1, nil, 0)
	c.closed = true
	return err
}

func (c *CPIOWriter) entry(name string, mode, nlink uint32, data []byte) error {
	if c.closed {
		return fmt.Errorf("cpio: add %s: the archive is closed", name)
	}
	clean := path.Clean(name)
	if name == "" || clean != name || path.IsAbs(name) || clean == "." || clean == ".." || strings.HasPrefix(clean, "../") || name == cpioTrailer {
		return fmt.Errorf("cpio: entry name %q must be a clean relative path", name)
	}
	c.ino++
	return c.write(name, mode, nlink, data, c.ino)
}

// write writes one header, name and data, each padded to 4 bytes.
func (c *CPIOWriter) write(name string, mode, nlink uint32, data []byte, ino uint32) error {
	if c.err != nil {
		return c.err
	}
	// magic, ino, mode, uid, gid, nlink, mtime, filesize, devmajor,
	// devminor, rdevmajor, rdevminor, namesize (with its NUL), check.
	hdr := fmt.Sprintf("070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		ino, mode, 0, 0, nlink, 0, len(data), 0, 0, c.rdev[0], c.rdev[1], len(name)+1, 0)
	buf := make([]byte, 0, len(hdr)+len(name)+8)
	buf = append(buf, hdr...)
	buf = append(buf, name...)
	buf = append(buf, 0)
	buf = pad4(buf)
	if _, err := c.w.Write(buf); err != nil {
		c.err = fmt.Errorf("cpio: write %s: %w", name, err)
		return c.err
	}
	if len(data) > 0 {
		if _, err := c.w.Write(data); err != nil {
			c.err = fmt.Errorf("cpio: write %s: %w", name, err)
			return c.err
		}
		if n := len(data) % 4; n != 0 {
			if _, err := c.w.Write(make([]byte, 4-n)); err != nil {
				c.err = fmt.Errorf("cpio: write %s: %w", name, err)
				return c.err
			}
		}
	}
	return nil
}

func pad4(b []byte) []byte {
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}
