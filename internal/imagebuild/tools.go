package imagebuild

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"banger/internal/errdefs"
)

// sbinDirs are searched after $PATH: mmdebstrap, debootstrap and
// e2fsprogs live in sbin directories that an ordinary $PATH may lack.
var sbinDirs = []string{"/usr/sbin", "/sbin", "/usr/local/sbin", "/usr/bin", "/bin"}

// aptInstall is the command that installs every tool Build needs.
const aptInstall = "apt-get install mmdebstrap e2fsprogs uidmap"

// findTool returns the absolute path of an executable called name in the
// absolute directories of $PATH or the sbin directories.
func findTool(name string) (string, error) {
	for _, dir := range append(filepath.SplitList(os.Getenv("PATH")), sbinDirs...) {
		if !filepath.IsAbs(dir) {
			continue
		}
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode().Perm()&0o111 != 0 {
			return p, nil
		}
	}
	return "", errdefs.FailedPreconditionf("%s not found: install it (%s)", name, aptInstall)
}

// tools are the programs one build uses.
type tools struct {
	bootstrap string // mmdebstrap or debootstrap
	mkfs      string
	tune2fs   string
	debugfs   string // unshare mode: adds /dev's device nodes
	tar       string // FromTar: extracts the flattened tree
	unshare   string // unshare mode: enters the user namespace
}

// checkTools finds the tools, preferring mmdebstrap, and says how to
// install whatever is missing. An unshare build needs mmdebstrap
// (debootstrap cannot run in a user namespace), debugfs and unshare.
func checkTools(find func(string) (string, error), mode Mode) (tools, error) {
	var t tools
	var missing []string
	if p, err := find("mmdebstrap"); err == nil {
		t.bootstrap = p
	} else if p, err := find("debootstrap"); err == nil && mode == ModeRoot {
		t.bootstrap = p
	} else if mode == ModeRoot {
		missing = append(missing, "mmdebstrap (or debootstrap)")
	} else {
		missing = append(missing, "mmdebstrap (debootstrap needs root)")
	}
	type slot struct {
		name string
		dst  *string
	}
	need := []slot{{"mkfs.ext4", &t.mkfs}, {"tune2fs", &t.tune2fs}}
	if mode == ModeUnshare {
		need = append(need, slot{"debugfs", &t.debugfs}, slot{"unshare", &t.unshare})
	}
	for _, tool := range need {
		p, err := find(tool.name)
		if err != nil {
			missing = append(missing, tool.name)
			continue
		}
		*tool.dst = p
	}
	if len(missing) > 0 {
		return tools{}, errdefs.FailedPreconditionf("building an image needs %s: install them with %q",
			strings.Join(missing, " and "), aptInstall)
	}
	return t, nil
}

// termGrace is how long a cancelled tool gets to clean up (mmdebstrap
// unmounts what it mounted in the tree) before it is killed.
const termGrace = 15 * time.Second

// runTool runs bin with args in its own process group, stdin from
// /dev/null, and passes every line of its combined output to line. When
// ctx is cancelled the whole group gets SIGTERM, then SIGKILL after
// termGrace. A failure carries the last lines of output.
func runTool(ctx context.Context, line func(string), bin string, args ...string) error {
	return runToolSignal(ctx, syscall.SIGTERM, line, bin, args...)
}

// runToolSignal is runTool with the signal cancellation sends to the
// group first.
func runToolSignal(ctx context.Context, cancelSig syscall.Signal, line func(string), bin string, args ...string) error {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C", "DEBIAN_FRONTEND=noninteractive")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, cancelSig) }
	cmd.WaitDelay = termGrace
	out := &lineWriter{line: line}
	cmd.Stdout, cmd.Stderr = out, out
	err := cmd.Run()
	if cmd.Process != nil {
		// Anything the tool left behind in its group goes with it.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	out.flush()
	name := filepath.Base(bin)
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("%s: %w", name, ctxErr)
	}
	if err == nil {
		return nil
	}
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		return fmt.Errorf("%s failed: %w: %s", name, err, out.tail())
	}
	return fmt.Errorf("run %s: %w", bin, err)
}

// lineWriter splits written bytes into lines for a callback and keeps
// the last few for error messages. exec calls Write from one goroutine at
// a time when Stdout and Stderr are the same writer.
type lineWriter struct {
	line    func(string)
	partial []byte
	last    []string
}

const keepLines = 8

func (w *lineWriter) Write(b []byte) (int, error) {
	w.partial = append(w.partial, b...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			break
		}
		w.emit(string(w.partial[:i]))
		w.partial = w.partial[i+1:]
	}
	return len(b), nil
}

func (w *lineWriter) flush() {
	if len(w.partial) > 0 {
		w.emit(string(w.partial))
		w.partial = nil
	}
}

func (w *lineWriter) emit(s string) {
	s = strings.TrimRight(s, "\r")
	if strings.TrimSpace(s) == "" {
		return
	}
	w.last = append(w.last, s)
	if len(w.last) > keepLines {
		w.last = w.last[1:]
	}
	if w.line != nil {
		w.line(s)
	}
}

func (w *lineWriter) tail() string {
	if len(w.last) == 0 {
		return "no output"
	}
	return strings.Join(w.last, "\n")
}

// Preflight reports whether this process can build an image: as root,
// or as an ordinary user in a user namespace (subordinate ids, sysctls,
// uidmap), and whether the tools are installed. It describes the
// bootstrap tool and the mode, or returns the error and the commands that
// fix it; doctor shows them.
func Preflight() (what, fix string, err error) {
	mode, m, fix, err := chooseMode(readHostFacts(findTool))
	if err != nil {
		return "", fix, err
	}
	t, err := checkTools(findTool, mode)
	if err != nil {
		return "", "sudo " + aptInstall, err
	}
	if mode == ModeUnshare {
		if err := checkUnshare(t.unshare); err != nil {
			return "", "upgrade util-linux to 2.38 or newer, or run bangerd as root", err
		}
		return fmt.Sprintf("%s, without root (user namespace, subordinate uids from %d, gids from %d)", t.bootstrap, m.SubUID, m.SubGID), "", nil
	}
	return t.bootstrap + ", as root", "", nil
}
