package network

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"

	"banger/internal/errdefs"
)

// fakeRelays records relays as they start and stop.
type fakeRelays struct {
	mu   sync.Mutex
	open map[string]string // listen -> target
	next int
}

type fakeRelay struct {
	f      *fakeRelays
	listen string
	port   int
}

func (r *fakeRelay) Port() int { return r.port }

func (r *fakeRelay) Close() error {
	r.f.mu.Lock()
	defer r.f.mu.Unlock()
	delete(r.f.open, r.listen)
	return nil
}

func (f *fakeRelays) relay(listen, target string) (Relay, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.open == nil {
		f.open = map[string]string{}
	}
	port := 0
	host, p, _ := strings.Cut(listen, ":")
	if p == "0" {
		f.next++
		port = 40000 + f.next
		listen = host + ":" + strconv.Itoa(port)
	} else {
		port, _ = strconv.Atoi(p)
	}
	f.open[listen] = target
	return &fakeRelay{f: f, listen: listen, port: port}, nil
}

func (f *fakeRelays) snapshot() map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]string{}
	for k, v := range f.open {
		out[k] = v
	}
	return out
}

func TestForwardsLastAsLongAsTheVMRuns(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, 0)
	relays := &fakeRelays{}
	r.svc.cfg.Relay = relays.relay
	if err := r.svc.Setup(ctx, nil, nil); err != nil {
		t.Fatal(err)
	}
	a := r.vm(t, 1, false, "")
	if _, err := r.svc.Forward(ctx, a.ID, "127.0.0.1", 8080, 80); !errdefs.Is(err, errdefs.FailedPrecondition) {
		t.Fatalf("Forward to a stopped VM = %v, want FailedPrecondition", err)
	}
	if _, err := r.svc.Attach(ctx, a); err != nil {
		t.Fatal(err)
	}
	if _, err := r.svc.Forward(ctx, a.ID, "0.0.0.0", 8080, 80); !errdefs.Is(err, errdefs.InvalidArgument) {
		t.Fatalf("Forward on a non-loopback address = %v, want InvalidArgument", err)
	}
	f, err := r.svc.Forward(ctx, a.ID, "127.0.0.1", 8080, 80)
	if err != nil || f.HostPort != 8080 {
		t.Fatalf("Forward = %+v, %v", f, err)
	}
	if _, err := r.svc.Forward(ctx, a.ID, "127.0.0.1", 8080, 81); !errdefs.Is(err, errdefs.AlreadyExists) {
		t.Fatalf("second forward of 8080 = %v, want AlreadyExists", err)
	}
	free, err := r.svc.Forward(ctx, a.ID, "127.0.0.1", 0, 22)
	if err != nil || free.HostPort == 0 {
		t.Fatalf("Forward with port 0 = %+v, %v", free, err)
	}
	want := map[string]string{"127.0.0.1:8080": "10.77.0.2:80", "127.0.0.1:" + strconv.Itoa(free.HostPort): "10.77.0.2:22"}
	if got := relays.snapshot(); len(got) != 2 || got["127.0.0.1:8080"] != want["127.0.0.1:8080"] {
		t.Fatalf("relays = %v, want %v", got, want)
	}

	// A new daemon re-adopts the running VM: its forwards come back.
	for _, rl := range r.svc.relays {
		_ = rl.Close() // the old daemon's listeners died with it
	}
	r.svc.Close()
	r.svc = New(r.svc.cfg)
	if err := r.svc.Setup(ctx, []VM{a}, nil); err != nil {
		t.Fatal(err)
	}
	if got := relays.snapshot(); len(got) != 2 {
		t.Fatalf("relays after restart = %v, want both back", got)
	}
	if err := r.svc.StopForward(ctx, a.ID, "127.0.0.1", free.HostPort); err != nil {
		t.Fatal(err)
	}
	if err := r.svc.StopForward(ctx, a.ID, "127.0.0.1", free.HostPort); !errdefs.Is(err, errdefs.NotFound) {
		t.Fatalf("second StopForward = %v, want NotFound", err)
	}
	// Stopping the VM ends and forgets its forwards.
	if err := r.svc.Detach(ctx, a.ID, a.Name); err != nil {
		t.Fatal(err)
	}
	settle(t, r)
	if got := relays.snapshot(); len(got) != 0 {
		t.Fatalf("relays after the VM stopped = %v", got)
	}
	if fs, _ := r.svc.Forwards(ctx, a.ID); len(fs) != 0 {
		t.Fatalf("forwards recorded after the VM stopped = %+v", fs)
	}
}
