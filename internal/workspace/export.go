package workspace

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"regexp"
	"strings"

	"banger/internal/errdefs"
)

// exportScript prints, in the guest, one binary git patch from the commit
// $2 to the working tree of the repository at $1: commits, staged and
// unstaged changes, untracked files that no ignore rule matches,
// deletions, renames and mode changes. It stages everything into a
// temporary index, so the repository's own index and working tree are
// left as they are.
const exportScript = `set -e
cd "$1"
idx=$(mktemp)
trap 'rm -f "$idx"' EXIT
export GIT_INDEX_FILE="$idx"
git read-tree HEAD
git add -A
git -c color.ui=never -c core.quotepath=off diff --cached --binary --full-index --no-ext-diff --no-textconv "$2" --
`

// revision is what --base accepts: a commit id or a plain ref name, never
// an option.
var revision = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_./~^@{}-]*$`)

// ExportCommand is the guest command that prints the patch of the
// workspace at guestPath against base.
func ExportCommand(guestPath, base string) ([]string, error) {
	if !revision.MatchString(base) {
		return nil, errdefs.InvalidArgumentf("base %q is not a commit: give a commit id (see git log in the guest)", base)
	}
	return []string{"sh", "-c", exportScript, "banger-export", guestPath, base}, nil
}

// Apply applies patch (from ExportCommand) to the checkout at root with
// git apply --index. It refuses, changing nothing, when HEAD is not base
// or the checkout has uncommitted changes or untracked files; git apply
// itself applies all of the patch or none of it.
func Apply(ctx context.Context, root, base string, patch []byte) error {
	head, err := gitOptional(ctx, root, "rev-parse", "--verify", "-q", "HEAD^{commit}")
	if err != nil {
		return errdefs.FailedPreconditionf("read HEAD of %s: %w", root, err)
	}
	want, err := gitOptional(ctx, root, "rev-parse", "--verify", "-q", base+"^{commit}")
	if err != nil {
		return errdefs.FailedPreconditionf("resolve the base commit in %s: %w", root, err)
	}
	if head == "" || head != want {
		return errdefs.FailedPreconditionf("%s is at %s, not at the workspace's base commit %s: check out %s (or use -o FILE and apply the patch yourself)", root, short(head), short(base), short(base))
	}
	status, err := gitOut(ctx, root, "status", "--porcelain", "--untracked-files=all")
	if err != nil {
		return errdefs.FailedPreconditionf("read the status of %s: %w", root, err)
	}
	if s := strings.TrimSpace(status); s != "" {
		return errdefs.FailedPreconditionf("%s has uncommitted changes or untracked files:\n%s\ncommit or stash them (git stash -u) first, or use -o FILE and apply the patch yourself", root, s)
	}
	if len(patch) == 0 {
		return nil
	}
	cmd := exec.CommandContext(ctx, "git", "-C", root, "apply", "--index", "--binary", "--whitespace=nowarn", "-")
	var errb bytes.Buffer
	cmd.Stdin, cmd.Stderr = bytes.NewReader(patch), &errb
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return errdefs.FailedPreconditionf("git apply in %s refused the patch (nothing was changed): %s", root, strings.TrimSpace(errb.String()))
		}
		return errdefs.FailedPreconditionf("run git: %w: install git on the host", err)
	}
	return nil
}
