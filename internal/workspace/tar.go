package workspace

import (
	"archive/tar"
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"banger/internal/errdefs"
)

// DefaultDepth is how many commits of history ship by default.
const DefaultDepth = 50

// WriteTar writes the checkout as a tar stream to w: the parent
// directories and files of c.Files with their modes and modification
// times (symlinks as symlinks), then, under .git/, a shallow bare clone of
// the repository holding the last depth commits of HEAD's history, and
// IndexFile: HEAD's entries with the modification time and size of each
// file unchanged from HEAD (see indexPlan; the guest completes it with
// gitindex.Fill, or git refreshes it by content). The files unchanged from
// HEAD that git writes byte for byte with the same permissions are not in
// the stream: CheckoutList names them, for the guest's git to check out
// from the clone (git checkout-index -u), so their content crosses once,
// compressed. Every entry is owned by root (the guest's user). The stream
// ends with the tar trailer. The clone is made while the files stream.
func (c *Checkout) WriteTar(ctx context.Context, w io.Writer, depth int) error {
	if depth < 1 {
		depth = DefaultDepth
	}
	tmp, err := os.MkdirTemp("", "banger-workspace-")
	if err != nil {
		return fmt.Errorf("make a temporary directory for the shallow clone: %w", err)
	}
	defer os.RemoveAll(tmp)
	clone := filepath.Join(tmp, "git")
	cloneCtx, cancel := context.WithCancel(ctx)
	cloned := make(chan struct{})
	var cloneErr error
	go func() {
		defer close(cloned)
		cloneErr = c.shallowClone(cloneCtx, clone, depth)
	}()
	defer func() { cancel(); <-cloned }() // before the RemoveAll

	plan, err := c.newIndexPlan(ctx)
	if err != nil {
		return err
	}
	// Headers and small files go out in large writes, not one each.
	bw := bufio.NewWriterSize(w, 1<<20)
	tw := tar.NewWriter(bw)
	now := time.Now()
	dirs := make(map[string]bool)
	var checkout strings.Builder
	for _, f := range c.Files {
		if plan.checksOut(f) {
			checkout.WriteString(f.Path)
			checkout.WriteByte(0)
			continue
		}
		if err := writeParents(tw, dirs, f.Path, now); err != nil {
			return err
		}
		if err := writeFile(tw, filepath.Join(c.Root, filepath.FromSlash(f.Path)), f, plan); err != nil {
			return err
		}
	}
	<-cloned
	if cloneErr != nil {
		return cloneErr
	}
	if err := writeTree(ctx, tw, clone, ".git"); err != nil {
		return err
	}
	index, err := plan.encode()
	if err != nil {
		return err
	}
	if err := writeBytes(tw, IndexFile, index); err != nil {
		return err
	}
	if checkout.Len() > 0 {
		if err := writeBytes(tw, CheckoutList, []byte(checkout.String())); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return bw.Flush()
}

// IndexFile and CheckoutList are the names, in the tar stream, of the
// guest's index plan and of the list (NUL-terminated paths) of the files
// the guest's git checks out from HEAD instead of the stream carrying
// them.
const (
	IndexFile    = ".git/index"
	CheckoutList = ".git/banger-checkout"
)

// writeBytes writes a regular file of content b named name.
func writeBytes(tw *tar.Writer, name string, b []byte) error {
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(b)),
		ModTime: time.Now(), Format: tar.FormatPAX}); err != nil {
		return err
	}
	_, err := tw.Write(b)
	return err
}

// shallowClone makes a bare clone of the last depth commits of HEAD's
// history at dst and checks that it is the HEAD Open read.
func (c *Checkout) shallowClone(ctx context.Context, dst string, depth int) error {
	if _, err := gitOut(ctx, filepath.Dir(dst), "clone", "-q", "--bare", "--no-tags", "--depth", strconv.Itoa(depth),
		"file://"+c.Root, dst); err != nil {
		return errdefs.FailedPreconditionf("make a shallow clone of %s: %w", c.Root, err)
	}
	head, err := gitOptional(ctx, dst, "rev-parse", "--verify", "-q", "HEAD^{commit}")
	if err != nil {
		return err
	}
	if head != c.Head {
		return errdefs.FailedPreconditionf("HEAD of %s moved from %s to %s while it was read: run the command again", c.Root, short(c.Head), short(head))
	}
	return nil
}

// writeParents writes a directory entry for every parent of p not written
// yet.
func writeParents(tw *tar.Writer, done map[string]bool, p string, mtime time.Time) error {
	dir := path.Dir(p)
	if dir == "." || done[dir] {
		return nil
	}
	if err := writeParents(tw, done, dir, mtime); err != nil {
		return err
	}
	done[dir] = true
	return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir + "/", Mode: 0o755, ModTime: mtime, Format: tar.FormatPAX})
}

// writeFile writes one file or symlink of the working tree, and tells
// the plan the modification time and size of a file as it shipped.
func writeFile(tw *tar.Writer, full string, f File, plan *indexPlan) error {
	st, err := os.Lstat(full)
	if err != nil {
		return errdefs.FailedPreconditionf("%s changed while it was shipped: %w: run the command again", full, err)
	}
	hdr := &tar.Header{Name: f.Path, Mode: int64(st.Mode().Perm()), ModTime: st.ModTime(), Format: tar.FormatPAX}
	if f.Link != "" {
		hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, f.Link
		return tw.WriteHeader(hdr)
	}
	if !st.Mode().IsRegular() {
		return errdefs.FailedPreconditionf("%s changed while it was shipped (now %v): run the command again", full, st.Mode().Type())
	}
	hdr.Typeflag, hdr.Size = tar.TypeReg, st.Size()
	after, err := copyFile(tw, hdr, full)
	if err != nil {
		return err
	}
	if after.ModTime().Equal(hdr.ModTime) && after.Size() == hdr.Size {
		plan.vouch(f.Path, st.Mode()&0o100 != 0, hdr.ModTime, hdr.Size)
	}
	return nil
}

// copyFile writes hdr and the content of full, which must still be
// hdr.Size bytes long, and returns what the open file's stat says after
// the copy.
func copyFile(tw *tar.Writer, hdr *tar.Header, full string) (fs.FileInfo, error) {
	if err := tw.WriteHeader(hdr); err != nil {
		return nil, err
	}
	fh, err := os.Open(full)
	if err != nil {
		return nil, errdefs.FailedPreconditionf("open %s: %w", full, err)
	}
	defer fh.Close()
	n, err := io.CopyN(tw, fh, hdr.Size)
	if errors.Is(err, io.EOF) {
		return nil, errdefs.FailedPreconditionf("%s shrank from %d to %d bytes while it was shipped: run the command again", full, hdr.Size, n)
	}
	if err != nil {
		return nil, err
	}
	return fh.Stat()
}

// writeTree writes the directory tree src under the name prefix.
func writeTree(ctx context.Context, tw *tar.Writer, src, prefix string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		name := path.Join(prefix, filepath.ToSlash(rel))
		info, err := d.Info()
		if err != nil {
			return err
		}
		hdr := &tar.Header{Name: name, Mode: int64(info.Mode().Perm()), ModTime: info.ModTime(), Format: tar.FormatPAX}
		switch {
		case d.IsDir():
			hdr.Typeflag, hdr.Name = tar.TypeDir, name+"/"
			return tw.WriteHeader(hdr)
		case info.Mode().IsRegular():
			hdr.Typeflag, hdr.Size = tar.TypeReg, info.Size()
			_, err := copyFile(tw, hdr, p)
			return err
		}
		return nil // git's clone holds only directories and files
	})
}

func short(commit string) string {
	if len(commit) > 12 {
		return commit[:12]
	}
	return strings.TrimSpace(commit)
}
