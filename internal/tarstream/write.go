package tarstream

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

// Write writes p, and everything below it when it is a directory, as a tar
// stream to w. Entry names start with top ("." puts the contents of a
// directory at the top level, with "./" as the directory's own entry);
// symlinks are stored, never followed, including p itself; sockets, fifos
// and devices are skipped and reported to skipped when it is not nil;
// ownership is numeric; modes and modification times are kept.
func Write(w io.Writer, p, top string, skipped func(file string, mode fs.FileMode)) error {
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
		name := path.Join(top, filepath.ToSlash(rel))
		ok, err := writeEntry(tw, file, name, info)
		if !ok && err == nil && skipped != nil {
			skipped(file, info.Mode())
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("tar %s: %w", p, err)
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("tar %s: %w", p, err)
	}
	return nil
}

// writeEntry writes one file's entry and reports whether it was written
// (false for the special files that are skipped).
func writeEntry(tw *tar.Writer, file, name string, info fs.FileInfo) (bool, error) {
	var link string
	switch {
	case info.Mode().IsRegular(), info.IsDir():
	case info.Mode()&fs.ModeSymlink != 0:
		var err error
		if link, err = os.Readlink(file); err != nil {
			return false, err
		}
	default:
		return false, nil // sockets, fifos and devices are not transferred
	}
	hdr, err := tar.FileInfoHeader(info, link)
	if err != nil {
		return false, err
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
		return false, err
	}
	if !info.Mode().IsRegular() {
		return true, nil
	}
	f, err := os.OpenFile(file, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return false, err
	}
	defer f.Close()
	if _, err := io.CopyN(tw, f, hdr.Size); err != nil {
		return false, fmt.Errorf("read %s: %w (did it shrink while being copied?)", file, err)
	}
	return true, nil
}
