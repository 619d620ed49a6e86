package kernelbuild

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"banger/internal/errdefs"
)

// Adopt records a kernel tree that was built by hand from opts' source
// tarball as that source's cached output, so the next Build returns it at
// once. The tree's .config must hold every option of banger's fragment and
// its release must be the tarball's version; vmlinux and bzImage are
// copied, the tree is left as it was. An existing cached output wins.
func Adopt(ctx context.Context, opts Options, tree string) (Result, error) {
	return defaultBuilder().adopt(ctx, opts, tree)
}

func (b builder) adopt(ctx context.Context, opts Options, tree string) (Result, error) {
	if opts.WorkDir == "" || !filepath.IsAbs(opts.WorkDir) {
		return Result{}, errdefs.InvalidArgumentf("kernel build work directory %q must be an absolute path", opts.WorkDir)
	}
	if err := os.MkdirAll(opts.WorkDir, 0o755); err != nil {
		return Result{}, fmt.Errorf("create kernel work directory: %w", err)
	}
	unlock, err := lockDir(ctx, opts.WorkDir, b.lockPoll, func() {})
	if err != nil {
		return Result{}, err
	}
	defer unlock()
	src, err := b.findSource(opts.Source)
	if err != nil {
		return Result{}, err
	}
	sum, err := hashFile(ctx, src)
	if err != nil {
		return Result{}, err
	}
	out := filepath.Join(opts.WorkDir, "out-"+outputKey(sum, b.fragment))
	if res, ok := cachedResult(out); ok {
		return res, nil
	}
	config, err := os.ReadFile(filepath.Join(tree, ".config"))
	if err != nil {
		return Result{}, errdefs.FailedPreconditionf("%s is not a configured kernel tree: %v", tree, err)
	}
	if missing := missingOptions(b.fragment, string(config)); len(missing) > 0 {
		return Result{}, errdefs.FailedPreconditionf("the .config in %s lacks %d options of banger's fragment (%s): rebuild it with \"banger kernel build\"",
			tree, len(missing), strings.Join(missing, ", "))
	}
	for _, f := range []string{"vmlinux", filepath.Join("arch", "x86", "boot", "bzImage")} {
		if _, err := os.Stat(filepath.Join(tree, f)); err != nil {
			return Result{}, errdefs.FailedPreconditionf("%s has no %s: finish its build first", tree, f)
		}
	}
	res, err := install(ctx, tree, out, func(Progress) {})
	if err != nil {
		return Result{}, err
	}
	if want := versionPrefix(src); want != "" && !strings.HasPrefix(res.Version, want) {
		_ = os.RemoveAll(out)
		return Result{}, errdefs.FailedPreconditionf("%s is release %s, not built from %s", tree, res.Version, src)
	}
	return res, nil
}

// versionPrefix is "6.1." for linux-source-6.1.tar.xz, "" if unknown.
func versionPrefix(src string) string {
	v := versionOf(src)
	if len(v) == 0 {
		return ""
	}
	parts := make([]string, len(v))
	for i, n := range v {
		parts[i] = strconv.Itoa(n)
	}
	return strings.Join(parts, ".") + "."
}
