package kernelbuild

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// tailLines is how many lines of output a failed command's error keeps.
const tailLines = 30

// buildEnv is added to the environment of every command: stable messages
// and a build stamp that does not name this host.
var buildEnv = []string{"LC_ALL=C", "KBUILD_BUILD_USER=banger", "KBUILD_BUILD_HOST=banger"}

// run runs name with args in dir, in a process group of its own that is
// killed when ctx ends, so make's compilers die with it. Every line of
// combined output goes to onLine when it is set. It returns the output
// (only the last lines when onLine is set); a failure's error includes
// those last lines.
func run(ctx context.Context, dir string, onLine func(string), name string, args ...string) (string, error) {
	return runInput(ctx, dir, nil, onLine, name, args...)
}

// runInput is run with stdin (nil for none) as the command's input.
func runInput(ctx context.Context, dir string, stdin io.Reader, onLine func(string), name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Stdin = stdin
	cmd.Env = append(os.Environ(), buildEnv...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	r, w, err := os.Pipe()
	if err != nil {
		return "", err
	}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		r.Close()
		w.Close()
		return "", fmt.Errorf("run %s: %w", name, err)
	}
	w.Close()
	var lines []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		lines = append(lines, line)
		if onLine != nil {
			onLine(line)
			if len(lines) > 2*tailLines {
				lines = append(lines[:0], lines[len(lines)-tailLines:]...)
			}
		}
	}
	r.Close()
	err = cmd.Wait()
	if ctxErr := ctx.Err(); ctxErr != nil {
		return "", ctxErr
	}
	out := strings.Join(lines, "\n")
	if err != nil {
		if len(lines) > tailLines {
			lines = lines[len(lines)-tailLines:]
		}
		return out, fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, strings.Join(lines, "\n"))
	}
	return out, nil
}
