package workspace

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"banger/internal/errdefs"
)

// gitOut runs git with args in dir and returns its standard output. A
// failure carries git's standard error.
func gitOut(ctx context.Context, dir string, args ...string) (string, error) {
	return gitEnvOut(ctx, dir, nil, args...)
}

// gitEnvOut is gitOut with env added to git's environment.
func gitEnvOut(ctx context.Context, dir string, env []string, args ...string) (string, error) {
	return gitRun(ctx, dir, env, "", args...)
}

// gitInOut is gitOut with stdin as git's standard input.
func gitInOut(ctx context.Context, dir, stdin string, args ...string) (string, error) {
	return gitRun(ctx, dir, nil, stdin, args...)
}

func gitRun(ctx context.Context, dir string, env []string, stdin string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", append([]string{"-C", dir}, args...)...)
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return out.String(), &gitError{args: args, code: ee.ExitCode(), stderr: strings.TrimSpace(errb.String())}
		}
		return "", errdefs.FailedPreconditionf("run git: %w: install git on the host", err)
	}
	return out.String(), nil
}

// gitError is a git command that exited non-zero.
type gitError struct {
	args   []string
	code   int
	stderr string
}

func (e *gitError) Error() string {
	return fmt.Sprintf("git %s: exit %d: %s", strings.Join(e.args, " "), e.code, e.stderr)
}

// gitOptional runs a git query whose exit status 1 means "not set" (git
// config --get, git symbolic-ref -q) and returns its trimmed output, empty
// when not set.
func gitOptional(ctx context.Context, dir string, args ...string) (string, error) {
	out, err := gitOut(ctx, dir, args...)
	var ge *gitError
	if errors.As(err, &ge) && ge.code == 1 {
		return "", nil
	}
	return strings.TrimSpace(out), err
}
