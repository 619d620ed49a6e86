package agentclient_test

import (
	"bufio"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"banger/internal/agent"
	"banger/internal/agent/agentclient"
	"banger/internal/errdefs"
)

const token = "client-test-token"

// fakeFirecracker listens on a unix socket like Firecracker's vsock UDS:
// it reads one "CONNECT <port>\n" line, records it, and then lets answer
// handle the connection.
func fakeFirecracker(t *testing.T, answer func(conn net.Conn)) (sock string, lines chan string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "fc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock = filepath.Join(dir, "v.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	lines = make(chan string, 10)
	done := make(chan struct{})
	var conns []net.Conn // closed at cleanup; answer may keep them open
	go func() {
		defer close(done)
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, conn)
			line, _ := bufio.NewReader(conn).ReadString('\n')
			lines <- line
			answer(conn)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	return sock, lines
}

func TestDialFirecrackerVsockReachesAgent(t *testing.T) {
	srv := &agent.Server{Token: token, HostKeyDir: t.TempDir()}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan struct{})
	sock, lines := fakeFirecracker(t, func(conn net.Conn) {
		conn.Write([]byte("OK 1073741824\n"))
		go func() { defer close(served); srv.ServeStream(ctx, conn) }()
	})
	t.Cleanup(func() { cancel(); <-served })
	conn, err := agentclient.DialFirecrackerVsock(ctx, sock, 1024)
	if err != nil {
		t.Fatal(err)
	}
	c, err := agentclient.New(conn, token)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got, want := <-lines, "CONNECT 1024\n"; got != want {
		t.Errorf("handshake line = %q, want %q", got, want)
	}
	tctx, tcancel := context.WithTimeout(ctx, 10*time.Second)
	defer tcancel()
	if _, err := c.Ready(tctx); err != nil {
		t.Errorf("Ready over the vsock handshake: %v", err)
	}
}

func TestDialFirecrackerVsockBadAnswers(t *testing.T) {
	tests := []struct {
		name    string
		answer  func(net.Conn)
		wantMsg string
	}{
		{"closes: nothing listening", func(c net.Conn) { c.Close() }, "nothing listens"},
		{"garbage line", func(c net.Conn) { c.Write([]byte("HTTP/1.1 400 Bad Request\n")); c.Close() }, "unexpected CONNECT reply"},
		{"OK without port", func(c net.Conn) { c.Write([]byte("OK \n")); c.Close() }, "unexpected CONNECT reply"},
		{"endless line", func(c net.Conn) { c.Write([]byte(strings.Repeat("x", 500))) }, "longer than"},
		{"half a line then close", func(c net.Conn) { c.Write([]byte("OK 12")); c.Close() }, "nothing listens"},
		{"silence", func(c net.Conn) {}, "deadline"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sock, _ := fakeFirecracker(t, tt.answer)
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			defer cancel()
			conn, err := agentclient.DialFirecrackerVsock(ctx, sock, 1024)
			if err == nil {
				conn.Close()
			}
			if errdefs.KindOf(err) != errdefs.Unavailable || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("DialFirecrackerVsock = %v, want unavailable containing %q", err, tt.wantMsg)
			}
		})
	}
}

func TestDialMissingSocket(t *testing.T) {
	_, err := agentclient.DialUnix(context.Background(), filepath.Join(t.TempDir(), "none.sock"))
	if errdefs.KindOf(err) != errdefs.Unavailable || !strings.Contains(err.Error(), "is the VM running") {
		t.Errorf("DialUnix on a missing socket = %v, want unavailable with a hint", err)
	}
	_, err = agentclient.DialFirecrackerVsock(context.Background(), filepath.Join(t.TempDir(), "none.sock"), 1024)
	if errdefs.KindOf(err) != errdefs.Unavailable {
		t.Errorf("DialFirecrackerVsock on a missing socket = %v, want unavailable", err)
	}
}
