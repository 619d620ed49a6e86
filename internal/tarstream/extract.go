package tarstream

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

// Options tune Extract.
type Options struct {
	// KeepOwner sets every entry's numeric owner and keeps set-id bits
	// (the guest agent, which runs as root). Without it entries belong to
	// the extracting user and set-uid and set-gid bits are dropped, so an
	// archive cannot plant a set-id program of whoever extracts it.
	KeepOwner bool
	// From and To rename the archive's top entry: when From is set, every
	// entry must be From or lie under it (anything else is refused), and
	// From is replaced by To; To "." puts From's contents directly in the
	// target directory.
	From, To string
}

// Extract writes the tar stream r into the existing directory dir and
// returns the number of entries written. Every path is resolved through
// an os.Root, so neither names, hard links nor symlinks can reach outside
// dir; an entry whose parent path goes through a symlink is refused, so a
// link planted by one entry cannot be written through by a later one.
// Device nodes, fifos and other special files are refused. Modes and
// modification times are kept. An archive refused half-way leaves the
// entries before the bad one.
func Extract(dir string, r io.Reader, o Options) (int, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return 0, errdefs.FailedPreconditionf("open %s to extract into: %w", dir, err)
	}
	defer root.Close()
	type dirTime struct {
		name  string
		mtime time.Time
	}
	var dirs []dirTime
	x := &extractor{o: o, root: root, verified: make(map[string]bool)}
	defer x.closeDir()
	tr := tar.NewReader(r)
	n := 0
	for {
		hdr, name, err := o.next(tr, n)
		if err != nil {
			return n, err
		}
		if hdr == nil {
			break
		}
		if name == "." {
			continue // the target directory itself
		}
		if err := x.extractEntry(name, hdr, tr); err != nil {
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
		_ = root.Chtimes(dirs[i].name, dirs[i].mtime, dirs[i].mtime)
	}
	return n, nil
}

// Check reads the tar stream r to its end and returns the first entry that
// Extract with o would refuse by its name, link or type alone, without
// writing anything. Entries are copied to w (when not nil) as they pass,
// renamed by o, so a checked stream can be handed on.
func Check(r io.Reader, w io.Writer, o Options) (int, error) {
	tr := tar.NewReader(r)
	var tw *tar.Writer
	if w != nil {
		tw = tar.NewWriter(w)
	}
	n := 0
	for {
		hdr, name, err := o.next(tr, n)
		if err != nil {
			return n, err
		}
		if hdr == nil {
			break
		}
		if err := checkType(hdr); err != nil {
			return n, err
		}
		if hdr.Typeflag == tar.TypeLink {
			if _, err := o.linkTarget(hdr); err != nil {
				return n, err
			}
		}
		n++
		if tw == nil {
			continue
		}
		out := *hdr
		out.Name = filepath.ToSlash(name)
		if hdr.Typeflag == tar.TypeDir {
			out.Name += "/"
		}
		if hdr.Typeflag == tar.TypeLink {
			t, _ := o.linkTarget(hdr)
			out.Linkname = filepath.ToSlash(t)
		}
		if err := tw.WriteHeader(&out); err != nil {
			return n, err
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return n, err
		}
	}
	if tw != nil {
		return n, tw.Close()
	}
	return n, nil
}

// EntryName checks a tar name: relative, no ".." element. It returns the
// cleaned name in OS form ("." for the top directory itself).
func EntryName(name string) (string, error) {
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

// next reads the next entry of tr (n read so far), skipping global
// headers, and returns it with its name renamed by o; a nil header means
// the stream ended.
func (o Options) next(tr *tar.Reader, n int) (*tar.Header, string, error) {
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil, "", nil
		}
		if err != nil {
			return nil, "", errdefs.InvalidArgumentf("read tar stream after %d entries: %w", n, err)
		}
		if hdr.Typeflag == tar.TypeXGlobalHeader {
			continue
		}
		name, err := o.rename(hdr.Name)
		return hdr, name, err
	}
}

// rename checks name and applies From and To.
func (o Options) rename(name string) (string, error) {
	clean, err := EntryName(name)
	if err != nil {
		return "", err
	}
	if o.From == "" {
		return clean, nil
	}
	slash := filepath.ToSlash(clean)
	switch {
	case o.From == ".":
		return filepath.FromSlash(path.Join(o.To, slash)), nil
	case slash == o.From:
		return filepath.FromSlash(o.To), nil
	case strings.HasPrefix(slash, o.From+"/"):
		return filepath.FromSlash(path.Join(o.To, strings.TrimPrefix(slash, o.From+"/"))), nil
	}
	return "", errdefs.InvalidArgumentf("tar entry %q is not under %q, the path that was asked for: refused", name, o.From)
}

// linkTarget checks and renames a hard link's target.
func (o Options) linkTarget(hdr *tar.Header) (string, error) {
	target, err := o.rename(hdr.Linkname)
	if err != nil || target == "." {
		return "", errdefs.InvalidArgumentf("tar hard link %q → %q points outside the target directory: refused", hdr.Name, hdr.Linkname)
	}
	return target, nil
}

// checkType refuses the entry types Extract does not write.
func checkType(hdr *tar.Header) error {
	switch hdr.Typeflag {
	case tar.TypeDir, tar.TypeReg, tar.TypeSymlink, tar.TypeLink:
		return nil
	case tar.TypeChar, tar.TypeBlock:
		return errdefs.InvalidArgumentf("tar entry %q is a device node: refused (only files, directories, symlinks and hard links are copied)", hdr.Name)
	case tar.TypeFifo:
		return errdefs.InvalidArgumentf("tar entry %q is a fifo: refused (only files, directories, symlinks and hard links are copied)", hdr.Name)
	}
	return errdefs.InvalidArgumentf("tar entry %q has type %q: refused (only files, directories, symlinks and hard links are copied)",
		hdr.Name, string(rune(hdr.Typeflag)))
}

// noSymlinkParents refuses name when a directory on its way from the root
// is a symlink: the symlink was planted by an earlier entry or was already
// there, and writing through it would put the entry somewhere else than
// its name says.
func noSymlinkParents(root *os.Root, entry, name string) error {
	parts := strings.Split(filepath.Dir(name), string(filepath.Separator))
	cur := ""
	for _, p := range parts {
		if p == "." {
			break
		}
		cur = filepath.Join(cur, p)
		st, err := root.Lstat(cur)
		if errors.Is(err, fs.ErrNotExist) {
			return nil // the rest is created as directories
		}
		if err != nil {
			return errdefs.InvalidArgumentf("extract tar entry %q: %w", entry, err)
		}
		if st.Mode()&fs.ModeSymlink != 0 {
			return errdefs.InvalidArgumentf("tar entry %q would be written through the symlink %s: refused", entry, filepath.ToSlash(cur))
		}
	}
	return nil
}

// extractor writes the entries of one Extract call. It remembers the
// directories it has made or checked on the way to an entry (none of them
// a symlink; no later entry can replace one, since an entry over a
// directory is refused) and keeps the last parent directory open, so a
// file costs a few system calls instead of a walk from the root for each
// operation on it.
type extractor struct {
	o        Options
	root     *os.Root
	verified map[string]bool // directories below root, none a symlink
	dirName  string          // the open parent directory, relative to root
	dir      *os.Root
}

func (x *extractor) closeDir() {
	if x.dir != nil {
		x.dir.Close()
		x.dir, x.dirName = nil, ""
	}
}

// parent makes the directories above name (refusing a path through a
// symlink) and returns the directory holding name, open, and name's last
// element.
func (x *extractor) parent(entry, name string) (*os.Root, string, error) {
	dir, base := filepath.Dir(name), filepath.Base(name)
	if dir == "." {
		return x.root, base, nil
	}
	if !x.verified[dir] {
		if err := noSymlinkParents(x.root, entry, name); err != nil {
			return nil, "", err
		}
		if err := x.root.MkdirAll(dir, 0o755); err != nil {
			return nil, "", errdefs.InvalidArgumentf("extract tar entry %q: %w", entry, err)
		}
		for d := dir; d != "."; d = filepath.Dir(d) {
			x.verified[d] = true
		}
	}
	if x.dirName != dir {
		x.closeDir()
		d, err := x.root.OpenRoot(dir)
		if err != nil {
			return nil, "", errdefs.InvalidArgumentf("extract tar entry %q: %w", entry, err)
		}
		x.dir, x.dirName = d, dir
	}
	return x.dir, base, nil
}

func (x *extractor) extractEntry(name string, hdr *tar.Header, body io.Reader) error {
	fail := func(err error) error {
		return errdefs.InvalidArgumentf("extract tar entry %q: %w", hdr.Name, err)
	}
	if err := checkType(hdr); err != nil {
		return err
	}
	dir, base, err := x.parent(hdr.Name, name)
	if err != nil {
		return err
	}
	keep := fs.ModePerm | fs.ModeSticky
	if x.o.KeepOwner {
		keep |= fs.ModeSetuid | fs.ModeSetgid
	}
	mode := hdr.FileInfo().Mode() & keep
	switch hdr.Typeflag {
	case tar.TypeDir:
		st, err := dir.Lstat(base)
		switch {
		case err == nil && !st.IsDir():
			return errdefs.FailedPreconditionf("tar entry %q is a directory but %s exists and is not one: remove it first", hdr.Name, filepath.ToSlash(name))
		case errors.Is(err, fs.ErrNotExist):
			if err := dir.Mkdir(base, 0o700); err != nil {
				return fail(err)
			}
		case err != nil:
			return fail(err)
		}
		// Chown before chmod: chown clears the set-id bits.
		if x.o.KeepOwner {
			if err := dir.Lchown(base, hdr.Uid, hdr.Gid); err != nil {
				return fail(err)
			}
		}
		if err := dir.Chmod(base, mode); err != nil {
			return fail(err)
		}
		x.verified[name] = true
		return nil
	case tar.TypeReg:
		if err := removeNonDir(dir, base); err != nil {
			return fail(err)
		}
		f, err := dir.OpenFile(base, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return fail(err)
		}
		_, err = io.Copy(f, body)
		if err == nil && x.o.KeepOwner {
			err = f.Chown(hdr.Uid, hdr.Gid) // before chmod: chown clears the set-id bits
		}
		if err == nil {
			err = f.Chmod(mode)
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = dir.Chtimes(base, hdr.ModTime, hdr.ModTime)
		}
		if err != nil {
			return fail(err)
		}
		return nil
	case tar.TypeSymlink:
		if err := removeNonDir(dir, base); err != nil {
			return fail(err)
		}
		if err := dir.Symlink(hdr.Linkname, base); err != nil {
			return fail(err)
		}
		if x.o.KeepOwner {
			if err := dir.Lchown(base, hdr.Uid, hdr.Gid); err != nil {
				return fail(err)
			}
		}
		return nil
	case tar.TypeLink:
		target, err := x.o.linkTarget(hdr)
		if err != nil {
			return err
		}
		if err := noSymlinkParents(x.root, hdr.Name, target); err != nil {
			return err
		}
		if err := removeNonDir(dir, base); err != nil {
			return fail(err)
		}
		if err := x.root.Link(target, name); err != nil {
			return fail(err)
		}
		return nil // a hard link shares its target's owner, mode and times
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
