package agent_test

import (
	"errors"
	"io"
	"testing"

	"banger/internal/agent/proto"
	"banger/internal/testtier"
)

// TestExecStream drives the raw exec stream the daemon relays: frames in,
// frames out.
func TestExecStream(t *testing.T) {
	testtier.Root(t) // the agent runs as root: commands start in /root
	srv, _ := newServer(t)
	c := serveUnix(t, srv, token)
	stream, err := c.ExecStream(testCtx(t), proto.ExecRequest{Argv: []string{"sh", "-c", "cat; exit 5"}, Stdin: true})
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	if err := proto.WriteFrame(stream, proto.FrameStdin, []byte("ping")); err != nil {
		t.Fatal(err)
	}
	if err := proto.WriteFrame(stream, proto.FrameStdinEOF, nil); err != nil {
		t.Fatal(err)
	}
	var out []byte
	for {
		f, err := proto.ReadFrame(stream)
		if errors.Is(err, io.EOF) {
			t.Fatal("stream ended without an exit frame")
		}
		if err != nil {
			t.Fatal(err)
		}
		switch f.Type {
		case proto.FrameStdout:
			out = append(out, f.Payload...)
		case proto.FrameExit:
			ex, err := proto.DecodeExit(f.Payload)
			if err != nil || ex.Code != 5 {
				t.Fatalf("exit = %+v, %v; want code 5", ex, err)
			}
			if string(out) != "ping" {
				t.Errorf("stdout = %q, want ping", out)
			}
			return
		}
	}
}
