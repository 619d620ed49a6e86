package firecracker

import (
	"bufio"
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"banger/internal/errdefs"
	"banger/internal/vmm"
)

// fakeVsock serves Firecracker's host-initiated vsock handshake on a unix
// socket, answering with reply, then echoing the stream.
func fakeVsock(t *testing.T, reply string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "fcv")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "v.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				line, err := bufio.NewReader(io.LimitReader(c, 64)).ReadString('\n')
				if err != nil || !strings.HasPrefix(line, "CONNECT 1024") {
					return
				}
				_, _ = io.WriteString(c, reply)
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return path
}

func TestDialAgent(t *testing.T) {
	path := fakeVsock(t, "OK 1073741824\nhello")
	conn, err := New(Config{}).DialAgent(context.Background(), vmm.Spec{ID: "vm", VsockPath: path}, vmm.AgentPort)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Bytes after the OK line are the guest's and must not be lost.
	buf := make([]byte, 5)
	if _, err := io.ReadFull(conn, buf); err != nil || string(buf) != "hello" {
		t.Fatalf("read after handshake = %q, %v", buf, err)
	}
}

func TestDialAgentRefused(t *testing.T) {
	for _, reply := range []string{"NOPE\n", strings.Repeat("x", 100)} {
		path := fakeVsock(t, reply)
		_, err := New(Config{}).DialAgent(context.Background(), vmm.Spec{ID: "vm", VsockPath: path}, vmm.AgentPort)
		if !errdefs.Is(err, errdefs.Unavailable) {
			t.Errorf("reply %.10q: err = %v, want unavailable", reply, err)
		}
	}
	_, err := New(Config{}).DialAgent(context.Background(), vmm.Spec{ID: "vm", VsockPath: "/nonexistent/v.sock"}, vmm.AgentPort)
	if !errdefs.Is(err, errdefs.Unavailable) {
		t.Errorf("missing socket: %v", err)
	}
}
