package agent

import (
	"archive/tar"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"syscall"
	"time"
)

// writeTar writes p, and everything below it when it is a directory, as a
// tar stream to w. Names start with p's base name; symlinks are stored,
// never followed; sockets, fifos and devices are skipped; ownership is
// numeric.
func writeTar(w io.Writer, p string) error {
	base := filepath.Base(p)
	if p == "/" {
		base = "."
	}
	tw := tar.NewWriter(w)
	err := filepath.WalkDir(p, func(file string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(p, file)
		if err != nil {
			return err
		}
		name := path.Join(base, filepath.ToSlash(rel))
		return writeEntry(tw, file, name, info)
	})
	if err != nil {
		return fmt.Errorf("tar %s: %w", p, err)
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("tar %s: %w", p, err)
	}
	return nil
}

func writeEntry(tw *tar.Writer, file, name string, info fs.FileInfo) error {
	var link string
	switch {
	case info.Mode().IsRegular(), info.IsDir():
	case info.Mode()&fs.ModeSymlink != 0:
		var err error
		if link, err = os.Readlink(file); err != nil {
			return err
		}
	default:
		return nil // sockets, fifos and devices are not transferred
	}
	hdr, err := tar.FileInfoHeader(info, link)
	if err != nil {
		return err
	}
	hdr.Name = name
	if info.IsDir() {
		hdr.Name += "/"
	}
	hdr.Uname, hdr.Gname = "", ""
	hdr.AccessTime, hdr.ChangeTime = time.Time{}, time.Time{}
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		hdr.Uid, hdr.Gid = int(st.Uid), int(st.Gid)
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	if !info.Mode().IsRegular() {
		return nil
	}
	f, err := os.OpenFile(file, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := io.CopyN(tw, f, hdr.Size); err != nil {
		return fmt.Errorf("read %s: %w (did it shrink while being copied?)", file, err)
	}
	return nil
}
