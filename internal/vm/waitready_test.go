package vm

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"banger/internal/agent"
	"banger/internal/vmm"
)

// lateAgentDriver's agent channel accepts at once, as qemu's does, but
// the agent behind it only starts reading up after a delay from the first
// dial, as a booting guest's agent does.
type lateAgentDriver struct {
	vmm.Driver
	srv   *agent.Server
	delay time.Duration

	mu    sync.Mutex
	first time.Time
	dials int
}

func (d *lateAgentDriver) DialAgent(ctx context.Context, spec vmm.Spec, port uint32) (net.Conn, error) {
	d.mu.Lock()
	if d.dials == 0 {
		d.first = time.Now()
	}
	d.dials++
	up := d.first.Add(d.delay)
	d.mu.Unlock()
	a, b := net.Pipe()
	go func() {
		time.Sleep(time.Until(up))
		_ = d.srv.ServeStream(context.Background(), a)
		a.Close()
	}()
	return b, nil
}

func (d *lateAgentDriver) dialCount() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.dials
}

// TestWaitReadyKeepsItsConnection: an agent that comes up after longer
// than one ordinary attempt (attemptTimeout) is answered on the
// connection WaitReady made first, as soon as it is up, not on a later
// one after a retry.
func TestWaitReadyKeepsItsConnection(t *testing.T) {
	srv := &agent.Server{Version: "test"}
	drv := &lateAgentDriver{srv: srv, delay: attemptTimeout + 500*time.Millisecond}
	e := newEnv(t, envOpts{driver: func(d vmm.Driver) vmm.Driver { drv.Driver = d; return drv }, agent: testConnector})
	e.create("late")
	srv.Token = e.record("late").AgentToken
	if _, err := e.svc.Start(context.Background(), "", "late", nil); err != nil {
		t.Fatal(err)
	}
	info, err := e.svc.WaitReady(context.Background(), "late", 30*time.Second)
	if err != nil {
		t.Fatalf("WaitReady: %v", err)
	}
	if info.Version != "test" {
		t.Errorf("WaitReady = %+v, want the agent's answer", info)
	}
	if n := drv.dialCount(); n != 1 {
		t.Errorf("WaitReady dialled the agent %d times, want once", n)
	}
}
