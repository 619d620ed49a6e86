package agentclient_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/yamux"

	"banger/internal/agent/agentclient"
	"banger/internal/agent/proto"
	"banger/internal/errdefs"
)

func shortCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// fakeAgent serves h over a yamux server session on one end of a pipe and
// returns a client on the other end.
func fakeAgent(t *testing.T, h http.Handler) *agentclient.Client {
	t.Helper()
	a, b := net.Pipe()
	cfg := yamux.DefaultConfig()
	cfg.LogOutput = io.Discard
	sess, err := yamux.Server(a, cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: h}
	done := make(chan struct{})
	go func() { defer close(done); hs.Serve(sess) }()
	c, err := agentclient.New(b, token)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); hs.Close(); sess.Close(); <-done })
	return c
}

func TestClientSurvivesNoisePeer(t *testing.T) {
	a, b := net.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.Write(bytes.Repeat([]byte("this is not yamux "), 100))
		io.Copy(io.Discard, a)
	}()
	c, err := agentclient.New(b, token)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Ready(shortCtx(t))
	if errdefs.KindOf(err) != errdefs.Unavailable || !strings.Contains(err.Error(), "banger-agent") {
		t.Errorf("Ready against a noise peer = %v, want unavailable naming banger-agent", err)
	}
	_, err = c.Exec(shortCtx(t), proto.ExecRequest{Argv: []string{"true"}}, nil, nil)
	if errdefs.KindOf(err) != errdefs.Unavailable {
		t.Errorf("Exec against a noise peer = %v, want unavailable", err)
	}
	c.Close()
	a.Close()
	<-done
}

func TestClientSurvivesGarbageHTTP(t *testing.T) {
	c := fakeAgent(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, _, _ := http.NewResponseController(w).Hijack()
		conn.Write([]byte("SSH-2.0-OpenSSH_9.2\r\n\r\n"))
		conn.Close()
	}))
	if _, err := c.Ready(shortCtx(t)); errdefs.KindOf(err) != errdefs.Unavailable {
		t.Errorf("Ready against a garbage HTTP peer = %v, want unavailable", err)
	}
	c2 := fakeAgent(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("{not json"))
	}))
	if _, err := c2.Metrics(shortCtx(t)); errdefs.KindOf(err) != errdefs.Internal {
		t.Errorf("Metrics with a malformed body = %v, want internal", err)
	}
	c3 := fakeAgent(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusTeapot)
		w.Write([]byte("short and stout"))
	}))
	if _, err := c3.Ports(shortCtx(t)); errdefs.KindOf(err) != errdefs.Internal || !strings.Contains(err.Error(), "418") {
		t.Errorf("Ports with a non-JSON error = %v, want internal naming the status", err)
	}
}

func TestClientSilentPeerTimesOut(t *testing.T) {
	c := fakeAgent(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}))
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := c.Ready(ctx)
	if errdefs.KindOf(err) != errdefs.Unavailable || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Ready against a silent agent = %v, want unavailable wrapping the deadline", err)
	}
}

// execPeer answers exec with 101 and then the given raw bytes.
func execPeer(raw []byte) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		conn, brw, _ := http.NewResponseController(w).Hijack()
		defer conn.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: banger-exec\r\n\r\n")
		brw.Write(raw)
		brw.Flush()
	})
}

func TestClientSurvivesGarbageFrames(t *testing.T) {
	huge := []byte{byte(proto.FrameStdout), 0, 0, 0, 0}
	binary.BigEndian.PutUint32(huge[1:], 0xffffffff)
	tests := []struct {
		name     string
		raw      []byte
		wantKind errdefs.Kind
		wantMsg  string
	}{
		{"huge length", huge, errdefs.Internal, "1 MiB"},
		{"unknown type", []byte{0x55, 0, 0, 0, 1, 'x'}, errdefs.Internal, "unexpected unknown(0x55) frame"},
		{"host-side type", []byte{byte(proto.FrameStdin), 0, 0, 0, 0}, errdefs.Internal, "unexpected stdin frame"},
		{"short exit frame", []byte{byte(proto.FrameExit), 0, 0, 0, 1, 0}, errdefs.Internal, "malformed exit"},
		{"truncated frame", []byte{byte(proto.FrameStdout), 0, 0, 1, 0, 'a'}, errdefs.Unavailable, "before the command's exit"},
		{"no exit frame", nil, errdefs.Unavailable, "before the command's exit"},
		{"plain text", []byte("hello, I am not an agent\n"), errdefs.Internal, "1 MiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := fakeAgent(t, execPeer(tt.raw))
			p, err := c.Exec(shortCtx(t), proto.ExecRequest{Argv: []string{"true"}}, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			code, err := p.Wait()
			if code != -1 || errdefs.KindOf(err) != tt.wantKind || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("Wait() = %d, %v; want -1 and a %s error containing %q", code, err, tt.wantKind, tt.wantMsg)
			}
		})
	}
}

func TestClientExecRefusedWithoutUpgrade(t *testing.T) {
	c := fakeAgent(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("{}"))
	}))
	_, err := c.Exec(shortCtx(t), proto.ExecRequest{Argv: []string{"true"}}, nil, nil)
	if errdefs.KindOf(err) != errdefs.Internal || !strings.Contains(err.Error(), "switching protocols") {
		t.Errorf("Exec answered 200 = %v, want internal about switching protocols", err)
	}
}

func TestDownloadReportsLateFailure(t *testing.T) {
	c := fakeAgent(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", proto.ErrorTrailer)
		w.Write([]byte("partial tar bytes"))
		w.Header().Set(proto.ErrorTrailer, "read /root/x: input/output error")
	}))
	rc, err := c.Download(shortCtx(t), "/root/x")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	_, err = io.ReadAll(rc)
	if err == nil || !strings.Contains(err.Error(), "input/output error") {
		t.Errorf("reading a download that failed part-way = %v, want the agent's error", err)
	}
}
