package client

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"banger/internal/agent/proto"
	"banger/internal/api"
	"banger/internal/errdefs"
	"banger/internal/peercred/peercredtest"
	"banger/internal/testtier"
)

// listenEnv names the socket TestHelperListen listens on; it is set only
// in the re-executed helper process.
const listenEnv = "BANGER_TEST_LISTEN_SOCKET"

// TestHelperListen is not a test: TestRefusesOtherUsersListener runs it as
// another uid, as the attacker. It listens on $BANGER_TEST_LISTEN_SOCKET
// (world-connectable), prints READY, counts the connections it gets and
// the bytes they send until its standard input closes, then prints them.
func TestHelperListen(t *testing.T) {
	sock := os.Getenv(listenEnv)
	if sock == "" {
		t.Skip("helper process for TestRefusesOtherUsersListener; runs only when re-executed with " + listenEnv)
	}
	ln, err := net.Listen("unix", sock)
	if err != nil {
		fmt.Printf("RESULT listen: %v\n", err)
		return
	}
	if err := os.Chmod(sock, 0o777); err != nil {
		fmt.Printf("RESULT chmod: %v\n", err)
		return
	}
	peercredtest.ServeAttacker(ln, 5*time.Second)
}

// TestRefusesOtherUsersListener: a socket another user listens on, where
// the daemon's should be, gets not one byte from the client: the peer's
// uid is checked before the request is written, for plain requests and
// for exec. The attacker is uid 65534; the victim is this (root) process,
// which expects a daemon running as itself.
func TestRefusesOtherUsersListener(t *testing.T) {
	testtier.Root(t)
	const attacker = 65534
	dir, err := os.MkdirTemp("", "bgp")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o1777); err != nil {
		t.Fatal(err)
	}
	bin := peercredtest.Binary(t, dir)
	sock := filepath.Join(dir, "bangerd.sock")
	h := peercredtest.Start(t, bin, dir, "TestHelperListen", attacker, listenEnv+"="+sock)

	c := &Client{Socket: sock}
	// A bound for a client that, without the check, would wait for an
	// answer the attacker never sends; the test checks no timing.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = c.Info(ctx)
	checkRefusal(t, "Info", err, sock)
	_, err = c.CreateVM(ctx, api.CreateVMRequest{Name: "secret"}, nil)
	checkRefusal(t, "CreateVM", err, sock)
	_, err = c.ExecVM(ctx, "web", proto.ExecRequest{Argv: []string{"cat", "/root/.ssh/id_ed25519"}, Stdin: true})
	checkRefusal(t, "ExecVM", err, sock)

	got := h.Finish(t)
	if !strings.HasPrefix(got, "conns=") || !strings.HasSuffix(got, " bytes=0") {
		t.Errorf("the attacker's listener reports %q: want connections that sent 0 bytes", got)
	}
}

func checkRefusal(t *testing.T, call string, err error, sock string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: the client talked to another user's listener", call)
	}
	want := fmt.Sprintf("refusing to talk to %s: the process listening there (pid ", sock)
	if !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), "runs as uid 65534, not as you (uid 0) or root, so it is not your bangerd") {
		t.Errorf("%s error %q does not say who listens and that banger refused", call, err)
	}
	if got, want := errdefs.KindOf(err), errdefs.FailedPrecondition; got != want {
		t.Errorf("%s: kind %s, want %s", call, got, want)
	}
}
