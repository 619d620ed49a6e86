package vmmproc

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// fakeEnv makes the test binary act as a fake VMM instead of running the
// tests: Start re-executes it with the fake's arguments.
const fakeEnv = "VMMPROC_TEST_FAKE_VMM"

func TestMain(m *testing.M) {
	if os.Getenv(fakeEnv) == "1" {
		os.Exit(fakeVMM(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// fakeVMM is a stand-in VMM. Its arguments are a pid file, then one
// behaviour and that behaviour's arguments:
//
//	serve DELAY SOCKET  listen on SOCKET after DELAY; greet each client
//	exit N FILE LINES   create FILE, print LINES lines to stderr, exit N
//	hang                ignore SIGTERM and never listen
//
// Every behaviour first writes its pid to the pid file and a line to
// stdout and to stderr, so tests can tell the two apart.
func fakeVMM(args []string) int {
	if len(args) < 2 {
		fmt.Fprintln(os.Stderr, "fake vmm: usage: PIDFILE serve|exit|hang ...")
		return 2
	}
	// Written whole or not at all: tests read it while the fake runs.
	tmp := args[0] + ".tmp"
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(os.Getpid())), 0o600); err != nil {
		fmt.Fprintln(os.Stderr, "fake vmm:", err)
		return 2
	}
	if err := os.Rename(tmp, args[0]); err != nil {
		fmt.Fprintln(os.Stderr, "fake vmm:", err)
		return 2
	}
	fmt.Println("fake vmm stdout:", strings.Join(args[1:], " "))
	fmt.Fprintln(os.Stderr, "fake vmm stderr")
	switch args[1] {
	case "serve":
		delay, _ := time.ParseDuration(args[2])
		time.Sleep(delay)
		ln, err := net.Listen("unix", args[3])
		if err != nil {
			fmt.Fprintln(os.Stderr, "fake vmm:", err)
			return 2
		}
		for {
			c, err := ln.Accept()
			if err != nil {
				return 2
			}
			fmt.Fprintln(c, "ready")
			c.Close()
		}
	case "exit":
		code, _ := strconv.Atoi(args[2])
		_ = os.WriteFile(args[3], nil, 0o600)
		n, _ := strconv.Atoi(args[4])
		for i := 1; i <= n; i++ {
			fmt.Fprintf(os.Stderr, "fake vmm line %d\n", i)
		}
		return code
	case "hang":
		signal.Ignore(syscall.SIGTERM)
		select {}
	}
	fmt.Fprintln(os.Stderr, "fake vmm: unknown behaviour", args[1])
	return 2
}

// fakeRun is where one fake VMM's files go.
type fakeRun struct {
	dir     string // private runtime directory
	logs    string // directory of the logs and the pid file
	socket  string
	pidFile string
}

// newFakeRun makes a private runtime directory (short, for unix socket
// paths) and a log directory, and lets processes Start launches run as the
// fake VMM.
func newFakeRun(t *testing.T) fakeRun {
	t.Helper()
	t.Setenv(fakeEnv, "1")
	base, err := os.MkdirTemp("", "vp")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	r := fakeRun{dir: filepath.Join(base, "run"), logs: filepath.Join(base, "logs")}
	for _, d := range []string{r.dir, r.logs} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	r.socket = filepath.Join(r.dir, "api.sock")
	r.pidFile = filepath.Join(r.logs, "pid")
	return r
}

// command is a Command that runs the fake with behaviour args, waiting for
// r.socket with timeout.
func (r fakeRun) command(t *testing.T, timeout time.Duration, args ...string) Command {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return Command{
		Name: "fakevmm", VM: "vm-1", Path: self,
		Args:       append([]string{r.pidFile}, args...),
		RuntimeDir: r.dir,
		Stdout:     filepath.Join(r.logs, "console.log"),
		Stderr:     filepath.Join(r.logs, "vmm.log"),
		Socket:     r.socket, SocketKind: "api socket",
		Ready:   func(ctx context.Context) error { return greet(ctx, r.socket) },
		Timeout: timeout,
	}
}

// greet reads the fake's greeting on sock.
func greet(ctx context.Context, sock string) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", sock)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if line != "ready\n" {
		return fmt.Errorf("greeting %q", line)
	}
	return nil
}

// fakePID returns the pid the fake wrote, or 0 when it never started.
func (r fakeRun) fakePID(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile(r.pidFile)
	if os.IsNotExist(err) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(string(b))
	if err != nil {
		t.Fatalf("pid file: %v", err)
	}
	return pid
}

// waitGone waits until pid has left /proc: killed and reaped.
func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); os.IsNotExist(err) {
			return
		}
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("pid %d is still in /proc: not killed or not reaped", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
