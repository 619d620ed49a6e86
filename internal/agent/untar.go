package agent

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"banger/internal/errdefs"
)

// extractTar writes the tar stream r under dir and returns the number of
// entries written. Every path is resolved through an os.Root, so neither
// names, hard links nor symlinks (including ones the same archive created)
// can reach outside dir. Device nodes, fifos and other special files are
// refused. Ownership (numeric), modes and modification times are kept.
// An archive refused half-way leaves the entries before the bad one.
func extractTar(dir string, r io.Reader) (int, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, errdefs.FailedPreconditionf("create upload directory: %w", err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return 0, errdefs.FailedPreconditionf("open upload directory: %w", err)
	}
	defer root.Close()
	type dirTime struct {
		name  string
		mtime time.Time
	}
	var dirs []dirTime
	tr := tar.NewReader(r)
	n := 0
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return n, errdefs.InvalidArgumentf("read tar stream after %d entries: %w", n, err)
		}
		if hdr.Typeflag == tar.TypeXGlobalHeader {
			continue
		}
		name, err := entryName(hdr.Name)
		if err != nil {
			return n, err
		}
		if name == "." {
			continue // the target directory itself
		}
		if err := extractEntry(root, name, hdr, tr); err != nil {
			return n, err
		}
		if hdr.Typeflag == tar.TypeDir {
			dirs = append(dirs, dirTime{name, hdr.ModTime})
		}
		n++
	}
	// Directory times last, deepest first, since creating entries in a
	// directory changes its modification time.
	for i := len(dirs) - 1; i >= 0; i-- {
		root.Chtimes(dirs[i].name, dirs[i].mtime, dirs[i].mtime)
	}
	return n, nil
}

// entryName checks a tar name: relative, no ".." element. It returns the
// cleaned name in OS form.
func entryName(name string) (string, error) {
	if name == "" {
		return "", errdefs.InvalidArgumentf("tar entry with an empty name: refused")
	}
	for _, el := range strings.Split(name, "/") {
		if el == ".." {
			return "", errdefs.InvalidArgumentf("tar entry %q contains \"..\": refused", name)
		}
	}
	clean := path.Clean(name)
	if !filepath.IsLocal(clean) && clean != "." {
		return "", errdefs.InvalidArgumentf("tar entry %q is not a relative path inside the target directory: refused", name)
	}
	return filepath.FromSlash(clean), nil
}

func extractEntry(root *os.Root, name string, hdr *tar.Header, body io.Reader) error {
	fail := func(err error) error {
		return errdefs.InvalidArgumentf("extract tar entry %q: %w", hdr.Name, err)
	}
	if parent := filepath.Dir(name); parent != "." {
		if err := root.MkdirAll(parent, 0o755); err != nil {
			return fail(err)
		}
	}
	mode := hdr.FileInfo().Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
	switch hdr.Typeflag {
	case tar.TypeDir:
		if err := root.MkdirAll(name, 0o700); err != nil {
			return fail(err)
		}
	case tar.TypeReg:
		if err := removeNonDir(root, name); err != nil {
			return fail(err)
		}
		f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return fail(err)
		}
		_, err = io.Copy(f, body)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fail(err)
		}
	case tar.TypeSymlink:
		if err := removeNonDir(root, name); err != nil {
			return fail(err)
		}
		if err := root.Symlink(hdr.Linkname, name); err != nil {
			return fail(err)
		}
		if err := root.Lchown(name, hdr.Uid, hdr.Gid); err != nil {
			return fail(err)
		}
		return nil
	case tar.TypeLink:
		target, err := entryName(hdr.Linkname)
		if err != nil || target == "." {
			return errdefs.InvalidArgumentf("tar hard link %q → %q points outside the target directory: refused", hdr.Name, hdr.Linkname)
		}
		if err := removeNonDir(root, name); err != nil {
			return fail(err)
		}
		if err := root.Link(target, name); err != nil {
			return fail(err)
		}
		return nil // a hard link shares its target's owner, mode and times
	default:
		return errdefs.InvalidArgumentf("tar entry %q has type %q: only files, directories, symlinks and hard links are accepted",
			hdr.Name, string(rune(hdr.Typeflag)))
	}
	// Chown before chmod: chown clears the set-id bits.
	if err := root.Lchown(name, hdr.Uid, hdr.Gid); err != nil {
		return fail(err)
	}
	if err := root.Chmod(name, mode); err != nil {
		return fail(err)
	}
	if hdr.Typeflag == tar.TypeReg {
		if err := root.Chtimes(name, hdr.ModTime, hdr.ModTime); err != nil {
			return fail(err)
		}
	}
	return nil
}

// removeNonDir removes what is at name unless it is a directory, so that a
// new entry replaces it instead of writing through an old symlink.
func removeNonDir(root *os.Root, name string) error {
	st, err := root.Lstat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if st.IsDir() {
		return fmt.Errorf("a directory exists at %s", name)
	}
	return root.Remove(name)
}
