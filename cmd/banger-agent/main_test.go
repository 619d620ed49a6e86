package main

import (
	"bytes"
	"context"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"banger/internal/agent/agentclient"
	"banger/internal/agent/proto"
	"banger/internal/testtier"
)

const token = "cmd-test-token"

func setup(t *testing.T) (dir, tokenFile string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "bagent")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	tokenFile = filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir, tokenFile
}

// check connects to sock and runs ready and one exec.
func check(t *testing.T, ctx context.Context, c *agentclient.Client) {
	t.Helper()
	if _, err := c.Ready(ctx); err != nil {
		t.Fatalf("Ready: %v", err)
	}
	var out bytes.Buffer
	// The default working directory is the guest's /root, which a test run
	// by another user than root cannot enter: name one anyone can.
	p, err := c.Exec(ctx, proto.ExecRequest{Argv: []string{"echo", "from the agent"}, Cwd: "/"}, &out, nil)
	if err != nil {
		t.Fatal(err)
	}
	if code, err := p.Wait(); code != 0 || err != nil || out.String() != "from the agent\n" {
		t.Errorf("exec echo = %d, %v, %q; want 0, nil, \"from the agent\\n\"", code, err, out.String())
	}
}

func dialWhenUp(t *testing.T, ctx context.Context, sock string) *agentclient.Client {
	t.Helper()
	for {
		conn, err := agentclient.DialUnix(ctx, sock)
		if err == nil {
			c, err := agentclient.New(conn, token)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
			return c
		}
		if ctx.Err() != nil {
			t.Fatalf("agent socket %s never came up: %v", sock, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestRunUnix(t *testing.T) {
	dir, tokenFile := setup(t)
	sock := filepath.Join(dir, "a.sock")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	runCtx, stop := context.WithCancel(ctx)
	var logs bytes.Buffer
	done := make(chan error, 1)
	go func() { done <- run(runCtx, []string{"--listen", "unix:" + sock, "--token-file", tokenFile}, &logs) }()
	check(t, ctx, dialWhenUp(t, ctx, sock))
	if st, err := os.Stat(sock); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("socket mode = %v (%v), want 0600", st.Mode().Perm(), err)
	}
	stop()
	if err := <-done; err != nil {
		t.Errorf("run after cancel = %v, want nil", err)
	}
}

func TestRunSerialOverPTY(t *testing.T) {
	_, tokenFile := setup(t)
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("needs /dev/ptmx to stand in for a virtio-serial port: %v", err)
	}
	defer master.Close()
	fd := int(master.Fd())
	unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0)
	n, err := unix.IoctlGetUint32(fd, unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	slave := "/dev/pts/" + strconv.FormatUint(uint64(n), 10)
	// A raw terminal passes bytes through like a virtio-serial port.
	sf, err := os.OpenFile(slave, os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	tio, _ := unix.IoctlGetTermios(int(sf.Fd()), unix.TCGETS)
	tio.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	tio.Oflag &^= unix.OPOST
	tio.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	tio.Cflag = tio.Cflag&^(unix.CSIZE|unix.PARENB) | unix.CS8
	tio.Cc[unix.VMIN], tio.Cc[unix.VTIME] = 1, 0
	if err := unix.IoctlSetTermios(int(sf.Fd()), unix.TCSETS, tio); err != nil {
		t.Fatal(err)
	}
	defer sf.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- run(runCtx, []string{"--listen", "serial:" + slave, "--token-file", tokenFile}, &bytes.Buffer{})
	}()
	c, err := agentclient.New(master, token)
	if err != nil {
		t.Fatal(err)
	}
	check(t, ctx, c)
	stop()
	if err := <-done; err != nil {
		t.Errorf("run after cancel = %v, want nil", err)
	}
}

func TestRunRejectsBadSetup(t *testing.T) {
	dir, tokenFile := setup(t)
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, []byte(" \n"), 0o600)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"missing token", []string{"--listen", "unix:" + dir + "/x.sock", "--token-file", dir + "/none"}, "read agent token"},
		{"empty token", []string{"--listen", "unix:" + dir + "/x.sock", "--token-file", empty}, "is empty"},
		{"bad listen", []string{"--listen", "tcp:0.0.0.0:1", "--token-file", tokenFile}, "want vsock:PORT"},
		{"bad vsock port", []string{"--listen", "vsock:abc", "--token-file", tokenFile}, "must be a number"},
		{"extra args", []string{"--token-file", tokenFile, "extra"}, "unexpected arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := run(context.Background(), tt.args, &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("run(%q) = %v, want an error containing %q", tt.args, err, tt.want)
			}
		})
	}
}

func TestBuiltBinary(t *testing.T) {
	testtier.Slow(t) // builds banger-agent statically
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("needs the go tool to build banger-agent")
	}
	dir, tokenFile := setup(t)
	bin := filepath.Join(dir, "banger-agent")
	build := exec.Command(goBin, "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("banger-agent has an ELF interpreter: it must be static (CGO_ENABLED=0)")
		}
	}
	f.Close()

	sock := filepath.Join(dir, "a.sock")
	var stderr bytes.Buffer
	cmd := exec.Command(bin, "--listen", "unix:"+sock, "--token-file", tokenFile, "--hostkey-dir", dir)
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := dialWhenUp(t, ctx, sock)
	check(t, ctx, c)
	c.Close()
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("banger-agent exited with %v after SIGTERM, want 0; stderr:\n%s", err, stderr.String())
		}
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		<-exited
		t.Fatalf("banger-agent still running 10s after SIGTERM; stderr:\n%s", stderr.String())
	}
	if _, err := os.Stat(sock); err == nil {
		t.Errorf("socket %s left behind after exit", sock)
	}
}
