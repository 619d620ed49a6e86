package vm

import (
	"context"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"banger/internal/agent"
	"banger/internal/agent/agentclient"
	"banger/internal/agent/proto"
	"banger/internal/errdefs"
	"banger/internal/vmm"
)

// pipeAgentDriver is the fake Firecracker driver whose agent channel is,
// for every VMM, a pipe to srv: an in-process guest agent.
type pipeAgentDriver struct {
	vmm.Driver
	srv *agent.Server
}

func (d pipeAgentDriver) DialAgent(ctx context.Context, spec vmm.Spec, port uint32) (net.Conn, error) {
	a, b := net.Pipe()
	go func() {
		_ = d.srv.ServeStream(context.Background(), a)
		a.Close()
	}()
	return b, nil
}

// testSession is an agent client as the VM service uses it.
type testSession struct{ *agentclient.Client }

func (s testSession) Run(ctx context.Context, req proto.ExecRequest, stdout, stderr io.Writer) (int, error) {
	p, err := s.Exec(ctx, req, stdout, stderr)
	if err != nil {
		return 0, err
	}
	return p.Wait()
}

func testConnector(conn io.ReadWriteCloser, token string) (Agent, error) {
	c, err := agentclient.New(conn, token)
	if err != nil {
		return nil, err
	}
	return testSession{c}, nil
}

// identities records what an agent was asked to become; fail fails it.
type identities struct {
	mu   sync.Mutex
	got  []proto.Identity
	fail error
}

func (r *identities) apply(_ context.Context, id proto.Identity) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return r.fail
	}
	r.got = append(r.got, id)
	return nil
}

// agentEnv is an env whose VMs all share one in-process guest agent,
// holding the token of the VM src it starts and snapshots as s1.
func agentEnv(t *testing.T) (*env, *agent.Server, *identities) {
	t.Helper()
	ids := &identities{}
	srv := &agent.Server{Version: "test", Reidentify: ids.apply}
	e := newEnv(t, envOpts{driver: func(d vmm.Driver) vmm.Driver { return pipeAgentDriver{d, srv} }, agent: testConnector})
	e.create("src")
	srv.Token = e.record("src").AgentToken
	e.start("src")
	if _, err := e.svc.SnapshotVM(context.Background(), "", "src", "s1", nil); err != nil {
		t.Fatal(err)
	}
	return e, srv, ids
}

// TestRestoreReidentifies: the reidentify step reaches the restored
// guest's agent with the snapshot's token and gives it the new VM's token,
// name, a new machine-id, the host's time and entropy; afterwards the
// service talks to it with the new token.
func TestRestoreReidentifies(t *testing.T) {
	ctx := context.Background()
	e, _, ids := agentEnv(t)
	srcToken := e.record("src").AgentToken
	before := time.Now()
	if _, err := e.svc.CreateFromSnapshot(ctx, "", "s1", CreateRequest{Name: "c1"}, nil); err != nil {
		t.Fatalf("CreateFromSnapshot: %v", err)
	}
	rec := e.record("c1")
	if len(ids.got) != 1 {
		t.Fatalf("the agent was re-identified %d times, want once", len(ids.got))
	}
	id := ids.got[0]
	if id.Token != rec.AgentToken || id.Token == srcToken || id.Hostname != "c1" {
		t.Errorf("identity token %q, hostname %q; want c1's own token %q and name", id.Token, id.Hostname, rec.AgentToken)
	}
	if b, err := hex.DecodeString(id.MachineID); err != nil || len(b) != 16 {
		t.Errorf("machine id %q: want 32 hex digits", id.MachineID)
	}
	if len(id.Entropy) != 64 || id.Time.Before(before) || id.Time.After(time.Now()) {
		t.Errorf("entropy %d bytes, time %v; want 64 bytes and the host's time", len(id.Entropy), id.Time)
	}
	if id.MAC != "" || id.Address != "" {
		t.Errorf("network %q %q for a VM without a network", id.MAC, id.Address)
	}
	if err := agent.CheckIdentity(id); err != nil {
		t.Errorf("the identity sent does not pass the agent's checks: %v", err)
	}
	if _, _, err := e.svc.agentFor(ctx, rec); err != nil {
		t.Errorf("the service cannot reach c1's agent with c1's token: %v", err)
	}
}

// TestRestoreReidentifyRefused: an agent that refuses the identity, or
// the token, fails the step at once and the new VM is rolled back.
func TestRestoreReidentifyRefused(t *testing.T) {
	ctx := context.Background()
	for name, setup := range map[string]func(*agent.Server, *identities){
		"identity refused": func(_ *agent.Server, ids *identities) { ids.fail = errors.New("no eth0") },
		"token refused":    func(srv *agent.Server, _ *identities) { srv.Token = strings.Repeat("z", 64) },
	} {
		t.Run(name, func(t *testing.T) {
			e, srv, ids := agentEnv(t)
			setup(srv, ids)
			_, err := e.svc.CreateFromSnapshot(ctx, "", "s1", CreateRequest{Name: "c1"}, nil)
			if err == nil || !strings.Contains(err.Error(), "refused its new identity") {
				t.Fatalf("CreateFromSnapshot = %v, want the refusal", err)
			}
			if errdefs.Is(err, errdefs.Unavailable) {
				t.Errorf("a refusal was waited out: %v", err)
			}
			assertOnlyVM(t, e, "src")
		})
	}
}
