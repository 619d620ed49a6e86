package workspace

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"banger/internal/errdefs"
)

// Checkout is a git working tree as it ships into a guest.
type Checkout struct {
	Root      string // the working tree's top level, absolute
	Head      string // the commit HEAD points at
	Branch    string // the branch HEAD is on; empty when detached
	Origin    string // the origin remote's URL; empty when there is none
	UserName  string // git config user.name; may be empty
	UserEmail string // git config user.email; may be empty
	Files     []File // what ships, sorted by path
}

// File is one file of the working tree that ships.
type File struct {
	Path string      // slash-separated, relative to Root
	Mode fs.FileMode // type and permission bits, as lstat reports them
	Size int64       // bytes; for a symlink, the length of its target
	Link string      // a symlink's target
}

// Options says what ships besides the tracked files.
type Options struct {
	// IncludeUntracked ships untracked files that no ignore rule matches.
	IncludeUntracked bool
}

// Open reads the checkout that holds dir: its top level, HEAD, branch,
// origin, git identity, and the files that ship. A path that is not in a
// git working tree, a bare repository, a repository without a commit, a
// submodule, a nested repository and a symlink that points outside the
// repository are refused with an invalid_argument error saying what to do.
func Open(ctx context.Context, dir string, opts Options) (*Checkout, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, errdefs.InvalidArgumentf("workspace path %q: %w", dir, err)
	}
	st, err := os.Stat(abs)
	if err != nil {
		return nil, errdefs.InvalidArgumentf("workspace path %s: %w: give the path of a git checkout", abs, err)
	}
	if !st.IsDir() {
		return nil, errdefs.InvalidArgumentf("workspace path %s is not a directory: give the path of a git checkout", abs)
	}
	out, err := gitOut(ctx, abs, "rev-parse", "--is-bare-repository", "--is-inside-work-tree")
	if err != nil {
		var ge *gitError
		if errors.As(err, &ge) {
			return nil, errdefs.InvalidArgumentf("%s is not in a git checkout (%s): run banger from a git working tree, or pass its path", abs, ge.stderr)
		}
		return nil, err
	}
	if f := strings.Fields(out); len(f) != 2 || f[0] == "true" || f[1] != "true" {
		return nil, errdefs.InvalidArgumentf("%s is a bare git repository or a .git directory, not a working tree: clone it (git clone %s) and ship the clone", abs, abs)
	}
	top, err := gitOptional(ctx, abs, "rev-parse", "--show-toplevel")
	if err != nil {
		return nil, err
	}
	c := &Checkout{Root: top}
	head, err := gitOptional(ctx, top, "rev-parse", "--verify", "-q", "HEAD^{commit}")
	if err != nil {
		return nil, err
	}
	if head == "" {
		return nil, errdefs.InvalidArgumentf("the git repository %s has no commit yet: commit once (git commit), then ship it", top)
	}
	c.Head = head
	for _, q := range []struct {
		dst  *string
		args []string
	}{
		{&c.Branch, []string{"symbolic-ref", "-q", "--short", "HEAD"}},
		{&c.Origin, []string{"config", "--get", "remote.origin.url"}},
		{&c.UserName, []string{"config", "--get", "user.name"}},
		{&c.UserEmail, []string{"config", "--get", "user.email"}},
	} {
		if *q.dst, err = gitOptional(ctx, top, q.args...); err != nil {
			return nil, err
		}
	}
	if err := checkNoSubmodules(ctx, top); err != nil {
		return nil, err
	}
	if c.Files, err = selectFiles(ctx, top, opts); err != nil {
		return nil, err
	}
	return c, nil
}

// checkNoSubmodules refuses a repository with submodules: their contents
// live in other repositories that a workspace does not carry.
func checkNoSubmodules(ctx context.Context, top string) error {
	if _, err := os.Lstat(filepath.Join(top, ".gitmodules")); err == nil {
		return errdefs.InvalidArgumentf("%s has submodules (.gitmodules): banger does not ship submodules yet; use a checkout without them", top)
	}
	out, err := gitOut(ctx, top, "ls-files", "-s", "-z")
	if err != nil {
		return err
	}
	for _, e := range strings.Split(out, "\x00") {
		if strings.HasPrefix(e, "160000 ") {
			name := e[strings.IndexByte(e, '\t')+1:]
			return errdefs.InvalidArgumentf("%s has a submodule at %s: banger does not ship submodules yet; use a checkout without them", top, name)
		}
	}
	return nil
}

// selectFiles lists what ships: the index's paths that still exist in the
// working tree (deleted ones are left out), and with IncludeUntracked the
// untracked files no ignore rule matches.
func selectFiles(ctx context.Context, top string, opts Options) ([]File, error) {
	args := []string{"ls-files", "-z", "--cached"}
	if opts.IncludeUntracked {
		args = append(args, "--others", "--exclude-standard")
	}
	out, err := gitOut(ctx, top, args...)
	if err != nil {
		return nil, err
	}
	seen := make(map[string]bool)
	var files []File
	for _, p := range strings.Split(out, "\x00") {
		if p == "" || seen[p] {
			continue
		}
		seen[p] = true
		if strings.HasSuffix(p, "/") {
			return nil, errdefs.InvalidArgumentf("%s holds another git repository at %s: banger does not ship nested repositories; move it out or ignore it in .gitignore", top, p)
		}
		f, ok, err := inspect(top, p)
		if err != nil {
			return nil, err
		}
		if ok {
			files = append(files, f)
		}
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	return files, nil
}

// inspect lstats one path of the working tree. ok is false for a tracked
// file deleted from the working tree.
func inspect(top, p string) (File, bool, error) {
	full := filepath.Join(top, filepath.FromSlash(p))
	st, err := os.Lstat(full)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrInvalid) {
		return File{}, false, nil
	}
	var pe *fs.PathError
	if errors.As(err, &pe) && strings.Contains(pe.Err.Error(), "not a directory") {
		return File{}, false, nil // a parent became a file: the path is gone
	}
	if err != nil {
		return File{}, false, errdefs.FailedPreconditionf("read %s: %w", full, err)
	}
	f := File{Path: p, Mode: st.Mode(), Size: st.Size()}
	switch {
	case st.Mode().IsRegular():
	case st.Mode()&fs.ModeSymlink != 0:
		target, err := os.Readlink(full)
		if err != nil {
			return File{}, false, errdefs.FailedPreconditionf("read symlink %s: %w", full, err)
		}
		if !insideRepo(p, target) {
			return File{}, false, errdefs.InvalidArgumentf("symlink %s points outside the repository (to %s): it would not resolve in the guest; make it relative and inside the repository, or remove it", p, target)
		}
		f.Link = target
	case st.IsDir():
		return File{}, false, nil // a tracked file replaced by a directory: ships as deleted
	default:
		return File{}, false, errdefs.InvalidArgumentf("%s is a %s, not a file or symlink: banger ships only files and symlinks; remove it from the index", full, kindOf(st.Mode()))
	}
	return f, true, nil
}

// insideRepo says whether a symlink at rel (slash-separated, relative to
// the repository's top) with target resolves inside the repository,
// lexically: absolute targets never do.
func insideRepo(rel, target string) bool {
	if path.IsAbs(target) || filepath.IsAbs(target) {
		return false
	}
	j := path.Clean(path.Join(path.Dir(rel), target))
	return j != ".." && !strings.HasPrefix(j, "../") && !(j == ".git" || strings.HasPrefix(j, ".git/"))
}

func kindOf(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "named pipe"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeDevice != 0:
		return "device"
	}
	return fmt.Sprintf("special file (%v)", m.Type())
}

// TotalSize is the bytes of file content that ship (symlink targets
// counted by length).
func (c *Checkout) TotalSize() int64 {
	var n int64
	for _, f := range c.Files {
		n += f.Size
	}
	return n
}
