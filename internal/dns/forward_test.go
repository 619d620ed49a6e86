package dns

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	mdns "github.com/miekg/dns"
)

func TestForwarding(t *testing.T) {
	up := startUpstream(t)
	s := newTestServer(t, Config{Upstreams: []string{up.addr}}, testRecords)
	guest := listen(t, s, true)
	host := listen(t, s, false)
	forwarded := summary{Rcode: "NOERROR", Answer: []string{"example.com.\t60\tIN\tA\t192.0.2.7"}}
	tests := []struct {
		network, addr, name string
		want                summary
	}{
		{"udp", guest, "example.com.", forwarded},
		{"tcp", guest, "example.com.", forwarded},
		{"udp", guest, "big.example.com.", summary{Rcode: "NOERROR", TC: true}},
		{"tcp", guest, "big.example.com.", summary{Rcode: "NOERROR", Answer: []string{"big.example.com.\t60\tIN\tA\t192.0.2.7"}}},
		{"udp", host, "example.com.", summary{Rcode: "REFUSED"}},
		{"tcp", host, "example.com.", summary{Rcode: "REFUSED"}},
		// Names in the domain are never forwarded.
		{"udp", guest, "web.vm.", summary{Rcode: "NOERROR", AA: true, Answer: []string{"web.vm.\t5\tIN\tA\t10.0.0.2"}}},
		{"udp", guest, "nope.vm.", summary{Rcode: "NXDOMAIN", AA: true, Ns: []string{"SOA"}}},
	}
	for _, tt := range tests {
		got := summarize(ask(t, tt.network, tt.addr, tt.name, mdns.TypeA))
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%s over %s to %s (-want +got):\n%s", tt.name, tt.network, tt.addr, diff)
		}
	}
	// Each forward went over the protocol it came in on.
	want := []string{"udp example.com.", "tcp example.com.", "udp big.example.com.", "tcp big.example.com."}
	if diff := cmp.Diff(want, up.questions()); diff != "" {
		t.Errorf("upstream saw (-want +got):\n%s", diff)
	}
}

func TestForwardingFailures(t *testing.T) {
	up := startUpstream(t)
	tests := []struct {
		name      string
		upstreams []string
		rcode     string
		within    time.Duration
		atLeast   time.Duration
	}{
		{"no upstreams", nil, "SERVFAIL", time.Second, 0},
		{"upstream down", []string{deadUpstream(t)}, "SERVFAIL", time.Second, 0},
		{"both down", []string{deadUpstream(t), deadUpstream(t)}, "SERVFAIL", time.Second, 0},
		{"down then up", []string{deadUpstream(t), up.addr}, "NOERROR", time.Second, 0},
		{"silent then up", []string{silentUpstream(t), up.addr}, "NOERROR", upstreamTimeout + time.Second, upstreamTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestServer(t, Config{Upstreams: tt.upstreams}, nil)
			addr := listen(t, s, true)
			start := time.Now()
			r := ask(t, "udp", addr, "example.com.", mdns.TypeA)
			took := time.Since(start)
			if got := mdns.RcodeToString[r.Rcode]; got != tt.rcode {
				t.Errorf("rcode %s, want %s", got, tt.rcode)
			}
			if took > tt.within || took < tt.atLeast {
				t.Errorf("answer took %v, want between %v and %v", took, tt.atLeast, tt.within)
			}
		})
	}
}

func TestMaxInflight(t *testing.T) {
	s := newTestServer(t, Config{Upstreams: []string{silentUpstream(t)}, MaxInflight: 1}, nil)
	addr := listen(t, s, true)
	// The first forward takes the only slot and hangs.
	var wg sync.WaitGroup
	wg.Go(func() { _, _ = exchange("udp", addr, "slow.example.", mdns.TypeA, 5*time.Second) })
	deadline := time.Now().Add(2 * time.Second)
	for len(s.sem) == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	for _, network := range []string{"udp", "tcp"} {
		start := time.Now()
		r := ask(t, network, addr, "other.example.", mdns.TypeA)
		if r.Rcode != mdns.RcodeServerFailure || time.Since(start) > 500*time.Millisecond {
			t.Errorf("%s: second forward got %s after %v, want SERVFAIL at once", network, mdns.RcodeToString[r.Rcode], time.Since(start))
		}
	}
	wg.Wait()
}

func TestSetUpstreams(t *testing.T) {
	up := startUpstream(t)
	s := newTestServer(t, Config{}, nil)
	addr := listen(t, s, true)
	if got := ask(t, "udp", addr, "example.com.", mdns.TypeA).Rcode; got != mdns.RcodeServerFailure {
		t.Errorf("without upstreams: rcode %s, want SERVFAIL", mdns.RcodeToString[got])
	}
	if err := s.SetUpstreams([]string{"example.com:53"}); err == nil {
		t.Error("SetUpstreams accepted a host name")
	}
	if err := s.SetUpstreams([]string{up.addr}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{up.addr}, s.Upstreams()); diff != "" {
		t.Errorf("Upstreams (-want +got):\n%s", diff)
	}
	if got := ask(t, "udp", addr, "example.com.", mdns.TypeA).Rcode; got != mdns.RcodeSuccess {
		t.Errorf("with upstream: rcode %s, want NOERROR", mdns.RcodeToString[got])
	}
}

// TestCloseWaitsForForwards checks that Close interrupts hanging forwards
// and returns only once they have let go of their upstream connections.
func TestCloseWaitsForForwards(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	s, err := NewServer(Config{Domain: "vm", Upstreams: []string{ln.Addr().String()}})
	if err != nil {
		t.Fatal(err)
	}
	l, err := s.Listen(context.Background(), "127.0.0.1:0", true)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() { _, _ = exchange("tcp", l.Addr(), "hang.example.", mdns.TypeA, 5*time.Second) })
	up, err := ln.Accept() // the server's forward, which is never answered
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	start := time.Now()
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("Close took %v with a forward hanging, want it interrupted", took)
	}
	// The forward's connection is already closed: reading hits EOF at once.
	_ = up.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	buf := make([]byte, 512)
	for {
		if _, err := up.Read(buf); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Error("upstream connection still open after Close returned")
			}
			break
		}
	}
	wg.Wait()
	if _, err := exchange("udp", l.Addr(), "web.vm.", mdns.TypeA, 200*time.Millisecond); err == nil {
		t.Error("closed listener still answers")
	}
	if _, err := s.Listen(context.Background(), "127.0.0.1:0", false); err == nil {
		t.Error("Listen after Close succeeded")
	}
}
