package dns

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
)

// newTestServer returns a server for domain "vm" with recs, closed at the
// end of the test.
func newTestServer(t *testing.T, cfg Config, recs map[string]string) *Server {
	t.Helper()
	if cfg.Domain == "" {
		cfg.Domain = "vm"
	}
	s, err := NewServer(cfg)
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	m := map[string]netip.Addr{}
	for name, ip := range recs {
		m[name] = netip.MustParseAddr(ip)
	}
	if err := s.SetRecords(m); err != nil {
		t.Fatalf("SetRecords: %v", err)
	}
	return s
}

// listen starts a listener on a free loopback port.
func listen(t *testing.T, s *Server, forward bool) string {
	t.Helper()
	l, err := s.Listen(context.Background(), "127.0.0.1:0", forward)
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l.Addr()
}

// ask sends one query for name and qtype over network and returns the reply.
func ask(t *testing.T, network, addr, name string, qtype uint16) *mdns.Msg {
	t.Helper()
	r, err := exchange(network, addr, name, qtype, 3*time.Second)
	if err != nil {
		t.Fatalf("query %s %s over %s: %v", name, mdns.TypeToString[qtype], network, err)
	}
	return r
}

func exchange(network, addr, name string, qtype uint16, timeout time.Duration) (*mdns.Msg, error) {
	m := new(mdns.Msg)
	m.SetQuestion(name, qtype)
	c := &mdns.Client{Net: network, Timeout: timeout}
	r, _, err := c.Exchange(m, addr)
	return r, err
}

// fakeUpstream is a miekg server on loopback answering every A query with
// 192.0.2.7 (names starting with "big." get a truncated reply over UDP),
// recording the questions and the protocol they came over.
type fakeUpstream struct {
	addr string
	mu   sync.Mutex
	seen []string // "udp example.com."
}

func startUpstream(t *testing.T) *fakeUpstream {
	t.Helper()
	f := &fakeUpstream{}
	h := mdns.HandlerFunc(func(w mdns.ResponseWriter, r *mdns.Msg) {
		network := "udp"
		if _, ok := w.RemoteAddr().(*net.TCPAddr); ok {
			network = "tcp"
		}
		f.mu.Lock()
		f.seen = append(f.seen, network+" "+r.Question[0].Name)
		f.mu.Unlock()
		m := new(mdns.Msg)
		m.SetReply(r)
		if len(r.Question[0].Name) > 4 && r.Question[0].Name[:4] == "big." && network == "udp" {
			m.Truncated = true
		} else {
			m.Answer = append(m.Answer, &mdns.A{
				Hdr: mdns.RR_Header{Name: r.Question[0].Name, Rrtype: mdns.TypeA, Class: mdns.ClassINET, Ttl: 60},
				A:   net.IPv4(192, 0, 2, 7),
			})
		}
		_ = w.WriteMsg(m)
	})
	pc, ln := loopbackPair(t)
	f.addr = pc.LocalAddr().String()
	for _, srv := range []*mdns.Server{{PacketConn: pc, Handler: h}, {Listener: ln, Handler: h}} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		done := make(chan struct{})
		go func() { defer close(done); _ = srv.ActivateAndServe() }()
		<-started
		t.Cleanup(func() { _ = srv.Shutdown(); <-done })
	}
	return f
}

func (f *fakeUpstream) questions() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.seen...)
}

// silentUpstream is a UDP and TCP address on loopback that takes queries
// and never answers.
func silentUpstream(t *testing.T) string {
	t.Helper()
	pc, ln := loopbackPair(t)
	var wg sync.WaitGroup
	wg.Go(func() {
		buf := make([]byte, 65535)
		for {
			if _, _, err := pc.ReadFrom(buf); err != nil {
				return
			}
		}
	})
	wg.Go(func() {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				_ = c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	})
	t.Cleanup(func() { _ = pc.Close(); _ = ln.Close(); wg.Wait() })
	return pc.LocalAddr().String()
}

// deadUpstream is a loopback address where nothing listens.
func deadUpstream(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	_ = pc.Close()
	return addr
}

// loopbackPair listens on UDP and TCP on the same free loopback port, as a
// DNS server does. The UDP port is free when picked, but its TCP twin may
// be taken by someone else: then it picks again, as Server.Listen does.
func loopbackPair(t *testing.T) (net.PacketConn, net.Listener) {
	t.Helper()
	for try := 0; ; try++ {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ln, err := net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			return pc, ln
		}
		_ = pc.Close()
		if !errors.Is(err, syscall.EADDRINUSE) || try == bindRetries {
			t.Fatal(err)
		}
	}
}
