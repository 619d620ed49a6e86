package kernelbuild

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"banger/internal/disk"
	"banger/internal/errdefs"
	"banger/internal/userfile"
)

// aptInstall is the command that installs everything a build needs on
// Debian and Ubuntu.
const aptInstall = "apt-get install build-essential flex bison bc perl libelf-dev libssl-dev cpio xz-utils linux-source-6.1"

var (
	requiredTools = []string{"make", "gcc", "flex", "bison", "bc", "perl", "tar", "xz"}
	// requiredHeaders are development headers the configured kernel
	// needs: objtool (the default ORC unwinder on x86_64) links libelf.
	requiredHeaders = []string{"/usr/include/gelf.h"}
)

// ErrMissingPrerequisite is the cause of the FailedPrecondition errors
// that say a build tool or the kernel source is not installed.
var ErrMissingPrerequisite = errors.New("a kernel build prerequisite is not installed")

func missingPrerequisite(format string, args ...any) error {
	return &errdefs.Error{Kind: errdefs.FailedPrecondition, Msg: fmt.Sprintf(format, args...), Err: ErrMissingPrerequisite}
}

// checkTools reports every missing tool and header at once.
func (b builder) checkTools() error {
	var missing []string
	for _, t := range b.tools {
		if _, err := b.lookPath(t); err != nil {
			missing = append(missing, t)
		}
	}
	for _, h := range b.headers {
		if _, err := os.Stat(h); err != nil {
			missing = append(missing, h)
		}
	}
	if len(missing) > 0 {
		return missingPrerequisite("building a kernel needs %s, which are missing: run \"%s\"", strings.Join(missing, ", "), aptInstall)
	}
	return nil
}

// findSource returns the tarball to build: explicit, or the newest match
// of the builder's glob.
func (b builder) findSource(explicit string) (string, error) {
	if explicit != "" {
		abs, err := filepath.Abs(explicit)
		if err != nil {
			return "", fmt.Errorf("kernel source %s: %w", explicit, err)
		}
		st, err := os.Stat(abs)
		if errors.Is(err, os.ErrNotExist) {
			return "", errdefs.NotFoundf("kernel source %s does not exist: check the path, or omit it to use the installed linux-source package", abs)
		}
		if err != nil {
			return "", fmt.Errorf("kernel source %s: %w", abs, err)
		}
		if !st.Mode().IsRegular() {
			return "", errdefs.InvalidArgumentf("kernel source %s is not a regular file: pass a linux-source .tar.xz", abs)
		}
		return abs, nil
	}
	matches, err := filepath.Glob(b.sourceGlob)
	if err != nil {
		return "", fmt.Errorf("look for kernel sources %s: %w", b.sourceGlob, err)
	}
	if len(matches) == 0 {
		return "", missingPrerequisite("no kernel source found at %s: run \"apt-get install linux-source-6.1\", or pass a tarball with --source", b.sourceGlob)
	}
	sort.Slice(matches, func(i, j int) bool { return versionLess(versionOf(matches[i]), versionOf(matches[j])) })
	return matches[len(matches)-1], nil
}

// versionOf returns the numeric parts of the version in a name such as
// linux-source-6.10.tar.xz: [6 10].
func versionOf(path string) []int {
	base := strings.TrimPrefix(filepath.Base(path), "linux-source-")
	base = strings.TrimSuffix(base, ".tar.xz")
	var v []int
	for _, part := range strings.Split(base, ".") {
		n, err := strconv.Atoi(part)
		if err != nil {
			break
		}
		v = append(v, n)
	}
	return v
}

func versionLess(a, b []int) bool {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return len(a) < len(b)
}

// maxSource bounds a kernel source tarball (linux-source is ~150MiB).
const maxSource = 4 << 30

// hashFile returns the sha256 of a file in hex, stopping early if ctx ends.
// The file may be one a user named, so it is opened with userfile: a FIFO
// or a device fails at once instead of blocking.
func hashFile(ctx context.Context, path string) (string, error) {
	f, err := userfile.Open(path, maxSource)
	if err != nil {
		return "", fmt.Errorf("read kernel source: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, ctxReader{ctx, f}); err != nil {
		return "", fmt.Errorf("hash %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// unitBytes is the unit of the extraction's count: bytes of the tarball.
const unitBytes = "bytes"

// countingReader reports how much of a file of size bytes has been read,
// once per hundredth of it and when all of it has.
type countingReader struct {
	r      io.Reader
	size   int64
	n      int64
	next   int64
	report func(n int64)
}

func (c *countingReader) Read(p []byte) (int, error) {
	k, err := c.r.Read(p)
	c.n += int64(k)
	if c.size > 0 && k > 0 && (c.n >= c.next || c.n >= c.size) {
		c.report(c.n)
		c.next = c.n + max(c.size/100, 1)
	}
	return k, err
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// completeMarker marks an extracted tree or an output directory as whole.
const completeMarker = ".banger-complete"

// extract unpacks the tarball into workDir/src-<sha>, reusing a complete
// earlier extraction, and returns the kernel tree inside it. Extraction
// goes to a temporary directory renamed into place at the end.
func extract(ctx context.Context, src, srcSum, workDir string, progress func(Progress)) (string, error) {
	dir := filepath.Join(workDir, "src-"+srcSum[:16])
	if _, err := os.Stat(filepath.Join(dir, completeMarker)); err == nil {
		progress(Progress{Step: StepExtract, Detail: "reusing " + dir, Fraction: 1})
		return treeIn(dir)
	}
	if err := os.RemoveAll(dir); err != nil {
		return "", fmt.Errorf("remove incomplete extraction %s: %w", dir, err)
	}
	stale, _ := filepath.Glob(dir + ".tmp-*")
	for _, s := range stale {
		_ = os.RemoveAll(s)
	}
	tmp, err := os.MkdirTemp(workDir, filepath.Base(dir)+".tmp-*")
	if err != nil {
		return "", fmt.Errorf("create extraction directory: %w", err)
	}
	detail := "extracting " + src + " into " + dir
	progress(Progress{Step: StepExtract, Detail: detail})
	f, err := userfile.Open(src, maxSource)
	if err != nil {
		_ = os.RemoveAll(tmp)
		return "", fmt.Errorf("read kernel source: %w", err)
	}
	defer f.Close()
	var size int64
	if st, err := f.Stat(); err == nil {
		size = st.Size()
	}
	// A kernel source tarball (xz) unpacks to about nine times its size:
	// less than four times is known to be too little.
	if err := disk.CheckRoom(workDir, 4*size, "extracting the kernel source "+src); err != nil {
		_ = os.RemoveAll(tmp)
		return "", err
	}
	in := &countingReader{r: f, size: size, report: func(n int64) {
		progress(Progress{Step: StepExtract, Detail: detail, Fraction: min(float64(n)/float64(size), 0.99),
			Current: n, TotalUnits: size, Unit: unitBytes})
	}}
	_, err = runInput(ctx, tmp, in, nil, "tar", "-xJf", "-", "-C", tmp)
	if err == nil {
		err = os.WriteFile(filepath.Join(tmp, completeMarker), nil, 0o644)
	}
	if err == nil {
		err = os.Rename(tmp, dir)
	}
	if err != nil {
		err = disk.RoomError(err, workDir) // judged before the partial tree goes
		_ = os.RemoveAll(tmp)
		return "", fmt.Errorf("extract kernel source %s: %w", src, err)
	}
	progress(Progress{Step: StepExtract, Detail: dir, Fraction: 1})
	return treeIn(dir)
}

// treeIn returns the kernel tree in an extraction directory: the directory
// itself if it holds the top Makefile, else its only subdirectory.
func treeIn(dir string) (string, error) {
	if _, err := os.Stat(filepath.Join(dir, "Makefile")); err == nil {
		return dir, nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", fmt.Errorf("read extracted source: %w", err)
	}
	var subdirs []string
	for _, e := range entries {
		if e.IsDir() {
			subdirs = append(subdirs, e.Name())
		}
	}
	if len(subdirs) == 1 {
		tree := filepath.Join(dir, subdirs[0])
		if _, err := os.Stat(filepath.Join(tree, "Makefile")); err == nil {
			return tree, nil
		}
	}
	return "", errdefs.InvalidArgumentf("the tarball extracted into %s holds no kernel tree (no top-level Makefile): pass a linux-source tarball", dir)
}

// Preflight reports what a kernel build from the installed linux-source
// package would miss (the source or any tool), without building; doctor
// shows it. It returns the source tarball it would use.
func Preflight() (string, error) {
	b := defaultBuilder()
	src, err := b.findSource("")
	if err != nil {
		return "", err
	}
	return src, b.checkTools()
}
