package agent_test

import (
	"bufio"
	"io"
	"net"
	"strconv"
	"testing"

	"banger/internal/errdefs"
)

// TestTCPRelaysBothWays connects through the agent to a guest loopback
// service that answers each line, over both transports; when the service
// closes its side, the host's stream ends.
func TestTCPRelaysBothWays(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				rd := bufio.NewReader(c)
				for {
					line, err := rd.ReadString('\n')
					if err != nil || line == "quit\n" {
						return
					}
					io.WriteString(c, "echo "+line)
				}
			}()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			srv, _ := newServer(t)
			c := tr.serve(t, srv, token)
			conn, err := c.Dial(testCtx(t), port)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			rd := bufio.NewReader(conn)
			for _, msg := range []string{"hello\n", "again\n"} {
				if _, err := io.WriteString(conn, msg); err != nil {
					t.Fatal(err)
				}
				got, err := rd.ReadString('\n')
				if err != nil || got != "echo "+msg {
					t.Fatalf("reply = %q, %v; want %q", got, err, "echo "+msg)
				}
			}
			if _, err := io.WriteString(conn, "quit\n"); err != nil {
				t.Fatal(err)
			}
			if rest, err := io.ReadAll(rd); err != nil || len(rest) != 0 {
				t.Errorf("after the service closed: read %q, %v; want EOF", rest, err)
			}
		})
	}
}

// TestTCPRefusedIsUnavailable: a port nothing listens on is answered with
// an unavailable error (the host retries on it) before switching protocols.
func TestTCPRefusedIsUnavailable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	srv, _ := newServer(t)
	c := serveUnix(t, srv, token)
	_, err = c.Dial(testCtx(t), port)
	if !errdefs.Is(err, errdefs.Unavailable) || !contains(err.Error(), strconv.Itoa(port)) {
		t.Errorf("Dial to a closed port = %v, want unavailable naming port %d", err, port)
	}
	_, err = c.Dial(testCtx(t), 0)
	if !errdefs.Is(err, errdefs.InvalidArgument) {
		t.Errorf("Dial to port 0 = %v, want invalid_argument", err)
	}
}
