package disk

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"banger/internal/errdefs"
)

// File is a regular file WriteFiles puts into an ext4 image.
type File struct {
	Path string // absolute path inside the image
	Data []byte
	Mode os.FileMode // permission bits plus optional setuid, setgid and sticky
	UID  int
	GID  int
}

// WriteFiles writes files into the unmounted ext4 image at image with
// debugfs, replacing any regular file or symlink already at a path and
// creating missing parent directories (mode 0755, owned by root). Nothing
// is mounted. Paths are checked first: each must be absolute and clean and
// use only characters that are safe in a debugfs script. A path that is a
// directory in the image, or under something that is not a directory, is
// refused before the image is touched. The image must not be in use by a
// running VM.
func WriteFiles(ctx context.Context, image string, files []File) error {
	return runner{find: findTool}.writeFiles(ctx, image, files)
}

func (r runner) writeFiles(ctx context.Context, image string, files []File) error {
	if err := checkFiles(files); err != nil {
		return err
	}
	if len(files) == 0 {
		return nil
	}
	if err := IsExt4(image); err != nil {
		return err
	}
	dirs := parentDirs(files)
	listing, err := r.listDirs(ctx, image, dirs)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "banger-debugfs-")
	if err != nil {
		return fmt.Errorf("create a temporary directory for debugfs: %w", err)
	}
	defer os.RemoveAll(tmp)
	if !safeScriptPath(tmp) {
		return errdefs.FailedPreconditionf("temporary directory %q has characters a debugfs script cannot carry: set TMPDIR to a plain path", tmp)
	}
	var script bytes.Buffer
	for _, d := range dirs {
		switch kind, ok := listing.kind(d); {
		case !ok:
			fmt.Fprintf(&script, "mkdir %s\n", d)
		case kind != kindDir:
			return errdefs.FailedPreconditionf("cannot write under %s in %s: it exists and is not a directory", d, image)
		}
	}
	for i, f := range files {
		switch kind, ok := listing.kind(f.Path); {
		case ok && kind == kindDir:
			return errdefs.FailedPreconditionf("write %s into %s: it is a directory in the image", f.Path, image)
		case ok:
			fmt.Fprintf(&script, "rm %s\n", f.Path)
		}
		local := filepath.Join(tmp, strconv.Itoa(i))
		if err := os.WriteFile(local, f.Data, 0o600); err != nil {
			return fmt.Errorf("stage %s for debugfs: %w", f.Path, err)
		}
		fmt.Fprintf(&script, "write %s %s\n", local, f.Path)
		fmt.Fprintf(&script, "sif %s mode 0%o\n", f.Path, 0o100000|unixMode(f.Mode))
		fmt.Fprintf(&script, "sif %s uid %d\n", f.Path, f.UID)
		fmt.Fprintf(&script, "sif %s gid %d\n", f.Path, f.GID)
	}
	stderr, err := r.debugfs(ctx, image, true, script.Bytes())
	if err != nil {
		return err
	}
	if len(stderr) > 0 {
		return fmt.Errorf("debugfs could not write files into %s: %s: check the image with e2fsck -f", image, strings.Join(stderr, "; "))
	}
	return nil
}

// checkFiles validates every file and reports all problems at once.
func checkFiles(files []File) error {
	var problems []string
	seen := map[string]bool{}
	for _, f := range files {
		if err := checkImagePath(f.Path); err != nil {
			problems = append(problems, err.Error())
			continue
		}
		if seen[f.Path] {
			problems = append(problems, fmt.Sprintf("%s is listed twice", f.Path))
		}
		seen[f.Path] = true
		if f.Mode&^(os.ModePerm|os.ModeSetuid|os.ModeSetgid|os.ModeSticky) != 0 {
			problems = append(problems, fmt.Sprintf("%s: mode %v is not a regular file's mode", f.Path, f.Mode))
		}
		if f.UID < 0 || f.GID < 0 || f.UID > 1<<31 || f.GID > 1<<31 {
			problems = append(problems, fmt.Sprintf("%s: uid %d gid %d out of range", f.Path, f.UID, f.GID))
		}
	}
	if len(problems) > 0 {
		return errdefs.InvalidArgumentf("cannot write files into the image: %s", strings.Join(problems, "; "))
	}
	return nil
}

// checkImagePath accepts absolute, clean paths below / made of characters
// that cannot change the meaning of a debugfs script line.
func checkImagePath(p string) error {
	switch {
	case !strings.HasPrefix(p, "/"):
		return fmt.Errorf("path %q is not absolute", p)
	case p == "/":
		return fmt.Errorf("path %q is the root directory, not a file", p)
	case path.Clean(p) != p:
		return fmt.Errorf("path %q is not clean (no \"..\", \".\", \"//\" or trailing \"/\")", p)
	case !safeScriptPath(p):
		return fmt.Errorf("path %q has characters debugfs cannot take: use letters, digits and . _ - + @ : , = only", p)
	}
	return nil
}

// safeScriptPath reports whether p uses only characters that debugfs
// passes through as one argument: no whitespace, quotes, control
// characters or non-ASCII.
func safeScriptPath(p string) bool {
	for _, c := range p {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.ContainsRune("/._-+@:,=", c):
		default:
			return false
		}
	}
	return true
}

// unixMode converts Go's mode bits to the Linux ones.
func unixMode(m os.FileMode) uint32 {
	mode := uint32(m.Perm())
	if m&os.ModeSetuid != 0 {
		mode |= 0o4000
	}
	if m&os.ModeSetgid != 0 {
		mode |= 0o2000
	}
	if m&os.ModeSticky != 0 {
		mode |= 0o1000
	}
	return mode
}

// parentDirs lists every ancestor directory of the files except /,
// shallowest first.
func parentDirs(files []File) []string {
	set := map[string]bool{}
	for _, f := range files {
		for d := path.Dir(f.Path); d != "/"; d = path.Dir(d) {
			set[d] = true
		}
	}
	out := make([]string, 0, len(set))
	for d := range set {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool {
		if ci, cj := strings.Count(out[i], "/"), strings.Count(out[j], "/"); ci != cj {
			return ci < cj
		}
		return out[i] < out[j]
	})
	return out
}

// debugfs runs a script and returns its error lines (stderr without the
// version banner).
func (r runner) debugfs(ctx context.Context, image string, write bool, script []byte) ([]string, error) {
	_, stderr, err := r.debugfsOutput(ctx, image, write, script)
	return stderr, err
}

// debugfsOutput runs debugfs -f - (with -w when write is set) on image
// and returns its standard output and its error lines. debugfs exits 0
// even when commands fail, so callers judge the error lines.
func (r runner) debugfsOutput(ctx context.Context, image string, write bool, script []byte) ([]byte, []string, error) {
	bin, err := r.find("debugfs")
	if err != nil {
		return nil, nil, err
	}
	args := []string{"-f", "-"}
	if write {
		args = append([]string{"-w"}, args...)
	}
	cmd := exec.CommandContext(ctx, bin, append(args, image)...)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	cmd.Stdin = bytes.NewReader(script)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return nil, nil, fmt.Errorf("debugfs %s: %w", image, ctx.Err())
		}
		return nil, nil, fmt.Errorf("debugfs %s failed: %w: %s", image, err, strings.TrimSpace(stderr.String()))
	}
	var lines []string
	for _, line := range strings.Split(stderr.String(), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || isBanner(line) {
			continue
		}
		lines = append(lines, line)
	}
	return stdout.Bytes(), lines, nil
}

// isBanner reports whether line is debugfs's version banner, e.g.
// "debugfs 1.47.0 (5-Feb-2023)".
func isBanner(line string) bool {
	rest, ok := strings.CutPrefix(line, "debugfs ")
	return ok && rest != "" && rest[0] >= '0' && rest[0] <= '9'
}
