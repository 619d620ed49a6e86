package agent_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/yamux"

	"banger/internal/agent"
	"banger/internal/agent/agentclient"
	"banger/internal/agent/proto"
	"banger/internal/errdefs"
)

// fakeIdentity records the identities applied instead of touching the
// machine; fail makes the next one fail.
type fakeIdentity struct {
	mu      sync.Mutex
	applied []proto.Identity
	fail    error
}

func (f *fakeIdentity) apply(_ context.Context, id proto.Identity) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	f.applied = append(f.applied, id)
	return nil
}

func (f *fakeIdentity) calls() []proto.Identity {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]proto.Identity(nil), f.applied...)
}

func goodIdentity() proto.Identity {
	return proto.Identity{
		Token:     strings.Repeat("ab12", 16),
		Hostname:  "fork-1",
		MachineID: "0123456789abcdef0123456789abcdef",
		MAC:       "02:bc:00:00:00:07",
		Address:   "10.77.0.7/24",
		Gateway:   "10.77.0.1",
		DNS:       "10.77.0.1",
		Time:      time.Now(),
		Entropy:   bytes.Repeat([]byte{7}, 64),
	}
}

// TestIdentitySwitchesToken: an identity request is applied, then the
// agent answers to the new token only (which the client that sent it
// then uses); the old one is refused.
func TestIdentitySwitchesToken(t *testing.T) {
	srv, _ := newServer(t)
	f := &fakeIdentity{}
	srv.Reidentify = f.apply
	c := serveUnix(t, srv, token)
	id := goodIdentity()
	if err := c.Reidentify(context.Background(), id); err != nil {
		t.Fatalf("Reidentify: %v", err)
	}
	got := f.calls()
	if len(got) != 1 {
		t.Fatalf("applied %d identities, want 1", len(got))
	}
	if diff := cmp.Diff(id, got[0], cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); diff != "" {
		t.Errorf("applied identity (-want +got):\n%s", diff)
	}
	// The client that sent it now sends the new token.
	if _, err := c.Ready(context.Background()); err != nil {
		t.Errorf("Ready on the session that sent the identity: %v", err)
	}
	old := serveUnixAgain(t, token)
	if _, err := old.Ready(context.Background()); err == nil {
		t.Error("the old token still works after the identity request")
	}
	if err := old.Reidentify(context.Background(), id); err == nil {
		t.Error("a second identity request with the old token was accepted")
	}
	fresh := serveUnixAgain(t, id.Token)
	if _, err := fresh.Ready(context.Background()); err != nil {
		t.Errorf("Ready with the new token: %v", err)
	}
}

// TestIdentityRefusals: a wrong token, a malformed or incomplete body and
// a failed apply are refused, and none changes the token.
func TestIdentityRefusals(t *testing.T) {
	srv, _ := newServer(t)
	f := &fakeIdentity{}
	srv.Reidentify = f.apply
	wrong := serveUnix(t, srv, "not-the-token")
	if err := wrong.Reidentify(context.Background(), goodIdentity()); err == nil {
		t.Error("an identity request with a wrong token was accepted")
	}
	c := serveUnixAgain(t, token)
	for name, mutate := range map[string]func(*proto.Identity){
		"short token":        func(id *proto.Identity) { id.Token = "abc" },
		"token punctuation":  func(id *proto.Identity) { id.Token = strings.Repeat("a", 40) + "\n" },
		"hostname":           func(id *proto.Identity) { id.Hostname = "Bad_Host" },
		"machine id":         func(id *proto.Identity) { id.MachineID = "xyz" },
		"zero machine id":    func(id *proto.Identity) { id.MachineID = strings.Repeat("0", 32) },
		"upper machine id":   func(id *proto.Identity) { id.MachineID = strings.Repeat("AB", 16) },
		"no entropy":         func(id *proto.Identity) { id.Entropy = nil },
		"too much entropy":   func(id *proto.Identity) { id.Entropy = make([]byte, 4096) },
		"no time":            func(id *proto.Identity) { id.Time = time.Time{} },
		"multicast mac":      func(id *proto.Identity) { id.MAC = "01:00:5e:00:00:01" },
		"address":            func(id *proto.Identity) { id.Address = "10.77.0.7" },
		"gateway outside":    func(id *proto.Identity) { id.Gateway = "192.0.2.1" },
		"dns":                func(id *proto.Identity) { id.DNS = "resolver" },
		"network half given": func(id *proto.Identity) { id.MAC = "" },
	} {
		id := goodIdentity()
		mutate(&id)
		if err := c.Reidentify(context.Background(), id); !errdefs.Is(err, errdefs.InvalidArgument) {
			t.Errorf("%s: Reidentify = %v, want invalid_argument", name, err)
		}
	}
	// Bodies the client would never send.
	for name, body := range map[string]string{
		"not json":      "{",
		"unknown field": `{"token":"x","evil":1}`,
		"empty":         "",
	} {
		status := postRaw(t, token, body)
		if status != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400", name, status)
		}
	}
	f.fail = errors.New("no such device")
	if err := c.Reidentify(context.Background(), goodIdentity()); err == nil || !strings.Contains(err.Error(), "no such device") {
		t.Errorf("Reidentify with a failing apply = %v, want its error", err)
	}
	if len(f.calls()) != 0 {
		t.Errorf("applied %d identities, want none", len(f.calls()))
	}
	if _, err := c.Ready(context.Background()); err != nil {
		t.Errorf("the token changed after refused requests: %v", err)
	}
}

// TestIdentityWithoutReidentify: an agent started without it refuses.
func TestIdentityWithoutReidentify(t *testing.T) {
	srv, _ := newServer(t)
	c := serveUnix(t, srv, token)
	if err := c.Reidentify(context.Background(), goodIdentity()); !errdefs.Is(err, errdefs.FailedPrecondition) {
		t.Errorf("Reidentify = %v, want failed_precondition", err)
	}
	if err := agent.CheckIdentity(goodIdentity()); err != nil {
		t.Errorf("CheckIdentity of a good identity: %v", err)
	}
	id := goodIdentity()
	id.MAC, id.Address, id.Gateway, id.DNS = "", "", "", ""
	if err := agent.CheckIdentity(id); err != nil {
		t.Errorf("CheckIdentity without a network: %v", err)
	}
}

// serveUnixAgain is a second client of the latest serveUnix server,
// presenting tok.
func serveUnixAgain(t *testing.T, tok string) *agentclient.Client {
	t.Helper()
	conn, err := agentclient.DialUnix(context.Background(), lastSock)
	if err != nil {
		t.Fatal(err)
	}
	c, err := agentclient.New(conn, tok)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// postRaw sends body as POST /v1/identity with tok to the latest
// serveUnix server over a hand-driven session and returns the status.
func postRaw(t *testing.T, tok, body string) int {
	t.Helper()
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
	defer sess.Close()
	st, err := sess.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	req, _ := http.NewRequest("POST", "http://agent/v1/identity", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tok)
	if err := req.Write(st); err != nil {
		t.Fatal(err)
	}
	_ = st.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(st), req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
