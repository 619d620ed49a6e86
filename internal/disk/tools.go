package disk

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"banger/internal/errdefs"
)

// toolNames lists the e2fsprogs programs banger uses, in the order doctor
// reports them.
var toolNames = []string{"mkfs.ext4", "tune2fs", "e2fsck", "debugfs"}

// sbinDirs are searched after $PATH: e2fsprogs installs to sbin, which is
// not on an ordinary user's $PATH on many distributions.
var sbinDirs = []string{"/usr/sbin", "/sbin", "/usr/local/sbin"}

// ToolStatus is whether one external tool is usable. Path is where it was
// found; Err says how to install it when it was not.
type ToolStatus struct {
	Name string
	Path string
	Err  error
}

// CheckTools reports, for doctor, which e2fsprogs tools are present.
func CheckTools() []ToolStatus { return checkTools(findTool) }

func checkTools(find func(string) (string, error)) []ToolStatus {
	out := make([]ToolStatus, 0, len(toolNames))
	for _, name := range toolNames {
		path, err := find(name)
		out = append(out, ToolStatus{Name: name, Path: path, Err: err})
	}
	return out
}

// findTool returns the absolute path of an e2fsprogs tool, looking in the
// absolute directories of $PATH and then in the sbin directories. A missing
// tool is FailedPrecondition with the command that installs it.
func findTool(name string) (string, error) {
	return findIn(name, append(filepath.SplitList(os.Getenv("PATH")), sbinDirs...))
}

// findIn looks for an executable regular file called name in dirs,
// ignoring relative directories so a tool is never run from the current
// directory by accident.
func findIn(name string, dirs []string) (string, error) {
	for _, dir := range dirs {
		if !filepath.IsAbs(dir) {
			continue
		}
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode().Perm()&0o111 != 0 {
			return p, nil
		}
	}
	return "", errdefs.FailedPreconditionf("%s not found: install e2fsprogs (apt-get install e2fsprogs)", name)
}

// runner runs external tools. find is how a tool name becomes a path;
// tests replace it to simulate a missing tool.
type runner struct {
	find func(string) (string, error)
}

// run runs the named tool with args, stdin from /dev/null (so nothing can
// prompt) and a C locale, and returns an error carrying its combined output
// when it fails. Cancelling ctx kills the tool and returns ctx's error.
func (r runner) run(ctx context.Context, name string, args ...string) error {
	path, err := r.find(name)
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	out, err := cmd.CombinedOutput()
	if err == nil {
		return nil
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), ctxErr)
	}
	msg := string(bytes.TrimSpace(out))
	if msg == "" {
		msg = "no output"
	}
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		return fmt.Errorf("%s %s failed: %w: %s", name, strings.Join(args, " "), err, msg)
	}
	return fmt.Errorf("run %s: %w", path, err)
}
