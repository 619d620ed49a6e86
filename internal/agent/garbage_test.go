package agent_test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/yamux"

	"banger/internal/agent/proto"
	"banger/internal/testtier"
)

// rawSession serves srv on a unix socket and returns a hand-driven yamux
// client session to it, plus a typed client to check the server still works.
func rawSession(t *testing.T) (*yamux.Session, func() error) {
	t.Helper()
	srv, _ := newServer(t)
	c := serveUnix(t, srv, token)
	conn, err := net.Dial("unix", lastSock)
	if err != nil {
		t.Fatal(err)
	}
	cfg := yamux.DefaultConfig()
	cfg.LogOutput = io.Discard
	sess, err := yamux.Client(conn, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sess.Close() })
	return sess, func() error { _, err := c.Ready(testCtx(t)); return err }
}

func TestGarbagePeerDoesNotCrashAgent(t *testing.T) {
	srv, _ := newServer(t)
	c := serveUnix(t, srv, token)
	for _, junk := range [][]byte{
		[]byte("GET / HTTP/1.1\r\n\r\n"),                 // HTTP without yamux
		bytes.Repeat([]byte{0xff}, 4096),                 // noise
		{0, 1, 0, 0, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff}, // yamux data frame claiming 4 GiB
		{0, 0, 0, 2, 0, 0, 0, 5, 0, 0, 0, 0},             // window update on an unknown stream
	} {
		conn, err := net.Dial("unix", lastSock)
		if err != nil {
			t.Fatal(err)
		}
		conn.Write(junk)
		// The agent ends the session or waits for more; either way it
		// must stay up.
		conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		io.Copy(io.Discard, conn)
		conn.Close()
	}
	if _, err := c.Ready(testCtx(t)); err != nil {
		t.Errorf("Ready after garbage peers: %v", err)
	}
}

func TestGarbageHTTPOnStream(t *testing.T) {
	sess, ready := rawSession(t)
	for _, junk := range []string{
		"NOT HTTP AT ALL\r\n\r\n",
		"GET /v1/ready HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("X-Big: "+strings.Repeat("a", 1000)+"\r\n", 100) + "\r\n",
		"POST /v1/exec HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + token + "\r\nContent-Length: 5000000\r\nUpgrade: banger-exec\r\n\r\n" + strings.Repeat(" ", 1<<20+10),
	} {
		st, err := sess.Open()
		if err != nil {
			t.Fatal(err)
		}
		st.Write([]byte(junk))
		st.SetReadDeadline(time.Now().Add(5 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(st), nil)
		if err == nil && resp.StatusCode < 400 {
			t.Errorf("garbage %.30q answered %s, want an error status", junk, resp.Status)
		}
		st.Close()
	}
	if err := ready(); err != nil {
		t.Errorf("Ready after garbage HTTP: %v", err)
	}
}

func TestGarbageExecFrames(t *testing.T) {
	testtier.Root(t) // the agent runs as root: commands start in /root
	sess, ready := rawSession(t)
	huge := []byte{byte(proto.FrameStdin), 0, 0, 0, 0}
	binary.BigEndian.PutUint32(huge[1:], 1<<31)
	tests := []struct {
		name    string
		frames  []byte
		wantMsg string
	}{
		{"unknown type", []byte{0x7f, 0, 0, 0, 0}, "unexpected unknown(0x7f) frame"},
		{"agent-side type", []byte{byte(proto.FrameExit), 0, 0, 0, 0}, "unexpected exit frame"},
		{"huge length", huge, "1 MiB"},
		{"short signal", []byte{byte(proto.FrameSignal), 0, 0, 0, 1, 9}, "signal frame has 1 bytes"},
		{"signal out of range", append([]byte{byte(proto.FrameSignal), 0, 0, 0, 4}, proto.EncodeSignal(1000)...), "out of range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := sess.Open()
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			body, _ := json.Marshal(proto.ExecRequest{Argv: []string{"sleep", "100"}})
			req, _ := http.NewRequest("POST", "http://agent/v1/exec", bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+token)
			req.Header.Set("Upgrade", proto.ExecUpgrade)
			req.Header.Set("Connection", "Upgrade")
			req.Write(st)
			st.SetReadDeadline(time.Now().Add(10 * time.Second))
			br := bufio.NewReader(st)
			resp, err := http.ReadResponse(br, req)
			if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
				t.Fatalf("exec upgrade: %v %v", resp, err)
			}
			st.Write(tt.frames)
			var msg string
			var exit proto.Exit
			for {
				f, err := proto.ReadFrame(br)
				if err != nil {
					t.Fatalf("reading agent frames: %v (error message so far %q)", err, msg)
				}
				if f.Type == proto.FrameError {
					msg = string(f.Payload)
				}
				if f.Type == proto.FrameExit {
					exit, _ = proto.DecodeExit(f.Payload)
					break
				}
			}
			if !contains(msg, tt.wantMsg) || exit.Signal != 9 {
				t.Errorf("agent answered error %q and exit %+v; want a message containing %q and the command killed (signal 9)", msg, exit, tt.wantMsg)
			}
		})
	}
	if err := ready(); err != nil {
		t.Errorf("Ready after garbage frames: %v", err)
	}
}
