package agent

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"banger/internal/agent/proto"
)

// defaultPath is the PATH of commands whose request does not set one.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// process is a started command and the parent's ends of its stdio.
type process struct {
	cmd    *exec.Cmd
	stdin  *os.File   // pipe write end or PTY master; nil without stdin
	out    *os.File   // stdout pipe read end or PTY master
	errOut *os.File   // stderr pipe read end; nil with a PTY
	pty    *os.File   // PTY master with tty, else nil
	closer []*os.File // every parent-side file, closed by close
}

// startError is a command that could not be started; Code is what a shell
// would have returned (127 not found, 126 cannot execute).
type startError struct {
	Code int32
	Msg  string
}

func (e *startError) Error() string { return e.Msg }

// startProcess starts req's command in its own process group (its own
// session with a PTY).
func startProcess(req proto.ExecRequest) (_ *process, err error) {
	env := commandEnv(req)
	var cred *syscall.Credential
	if req.User != "" {
		u, err := lookupUser(req.User, "/etc/passwd", "/etc/group")
		if err != nil {
			return nil, &startError{Code: 126, Msg: err.Error()}
		}
		cred = &syscall.Credential{Uid: u.uid, Gid: u.gid, Groups: u.groups}
		env = userEnv(env, req.Env, u)
	}
	cwd, err := workDir(req.Cwd)
	if err != nil {
		return nil, err
	}
	path, err := lookPath(req.Argv[0], envValue(env, "PATH"))
	if err != nil {
		return nil, err
	}
	cmd := &exec.Cmd{Path: path, Args: req.Argv, Env: env, Dir: cwd}
	p := &process{cmd: cmd}
	defer func() {
		if err != nil {
			p.close()
		}
	}()
	var childFiles []*os.File
	defer func() {
		for _, f := range childFiles {
			f.Close()
		}
	}()
	if req.TTY {
		master, slave, err := openPTY(req.Rows, req.Cols)
		if err != nil {
			return nil, err
		}
		p.closer = append(p.closer, master)
		childFiles = append(childFiles, slave)
		p.pty, p.out = master, master
		if req.Stdin {
			p.stdin = master
		}
		cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	} else {
		pipe := func(parentReads bool) (*os.File, error) {
			r, w, err := os.Pipe()
			if err != nil {
				return nil, fmt.Errorf("create pipe: %w", err)
			}
			if parentReads {
				p.closer, childFiles = append(p.closer, r), append(childFiles, w)
				return w, nil
			}
			p.closer, childFiles = append(p.closer, w), append(childFiles, r)
			return r, nil
		}
		if cmd.Stdout, err = pipe(true); err != nil {
			return nil, err
		}
		p.out = p.closer[len(p.closer)-1]
		if cmd.Stderr, err = pipe(true); err != nil {
			return nil, err
		}
		p.errOut = p.closer[len(p.closer)-1]
		if req.Stdin {
			if cmd.Stdin, err = pipe(false); err != nil {
				return nil, err
			}
			p.stdin = p.closer[len(p.closer)-1]
		}
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	}
	cmd.SysProcAttr.Credential = cred
	if err := cmd.Start(); err != nil {
		code := int32(126)
		if errors.Is(err, fs.ErrNotExist) {
			code = 127
		}
		return nil, &startError{Code: code, Msg: fmt.Sprintf("cannot run %q: %v", req.Argv[0], err)}
	}
	return p, nil
}

// signal sends sig to the command's process group.
func (p *process) signal(sig syscall.Signal) {
	_ = unix.Kill(-p.cmd.Process.Pid, sig)
}

func (p *process) close() {
	for _, f := range p.closer {
		f.Close()
	}
}

// commandEnv is a small clean environment overridden by the request's.
func commandEnv(req proto.ExecRequest) []string {
	env := []string{"PATH=" + defaultPath, "HOME=/root", "USER=root", "LOGNAME=root"}
	if req.TTY {
		env = append(env, "TERM=xterm-256color")
	}
	for _, kv := range req.Env {
		key, _, _ := strings.Cut(kv, "=")
		env = setEnv(env, key, kv)
	}
	return env
}

func setEnv(env []string, key, kv string) []string {
	for i, e := range env {
		if strings.HasPrefix(e, key+"=") {
			env[i] = kv
			return env
		}
	}
	return append(env, kv)
}

func envValue(env []string, key string) string {
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, key+"="); ok {
			return v
		}
	}
	return ""
}

// workDir returns the directory to run in: cwd, or /root, or /.
func workDir(cwd string) (string, error) {
	if cwd == "" {
		if st, err := os.Stat("/root"); err == nil && st.IsDir() {
			return "/root", nil
		}
		return "/", nil
	}
	st, err := os.Stat(cwd)
	if err != nil {
		return "", &startError{Code: 126, Msg: fmt.Sprintf("working directory %s: %v: create it first or pass another cwd", cwd, err)}
	}
	if !st.IsDir() {
		return "", &startError{Code: 126, Msg: fmt.Sprintf("working directory %s is not a directory", cwd)}
	}
	return cwd, nil
}

// lookPath finds name in the absolute directories of path. A name with a
// slash is used as it is (relative to the working directory).
func lookPath(name, path string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	for _, dir := range filepath.SplitList(path) {
		if !filepath.IsAbs(dir) {
			continue
		}
		cand := filepath.Join(dir, name)
		if st, err := os.Stat(cand); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return cand, nil
		}
	}
	return "", &startError{Code: 127, Msg: fmt.Sprintf("command not found: %q is not in PATH=%s", name, path)}
}
