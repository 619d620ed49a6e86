package dns

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	mdns "github.com/miekg/dns"

	"banger/internal/errdefs"
)

var equateAddr = cmp.Comparer(func(a, b netip.Addr) bool { return a == b })

func addrs(m map[string]string) map[string]netip.Addr {
	out := map[string]netip.Addr{}
	for k, v := range m {
		out[k] = netip.MustParseAddr(v)
	}
	return out
}

func TestSetRecordsRefusesBadInput(t *testing.T) {
	tests := []struct {
		name    string
		recs    map[string]string
		mention string
	}{
		{"dot", map[string]string{"ok": "10.0.0.9", "a.b": "10.0.0.4"}, `"a.b"`},
		{"empty", map[string]string{"": "10.0.0.4"}, "empty"},
		{"underscore", map[string]string{"a_b": "10.0.0.4"}, `"a_b"`},
		{"leading dash", map[string]string{"-a": "10.0.0.4"}, `"-a"`},
		{"too long", map[string]string{strings.Repeat("a", 64): "10.0.0.4"}, "64 characters"},
		{"nul", map[string]string{"a\x00": "10.0.0.4"}, "not allowed"},
		{"ipv6", map[string]string{"six": "2001:db8::1"}, "IPv4"},
		{"two bad", map[string]string{"x.y": "10.0.0.4", "z z": "10.0.0.5"}, `"z z"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestServer(t, Config{}, testRecords)
			err := s.SetRecords(addrs(tt.recs))
			if !errdefs.Is(err, errdefs.InvalidArgument) || !strings.Contains(err.Error(), tt.mention) {
				t.Fatalf("SetRecords = %v, want InvalidArgument mentioning %s", err, tt.mention)
			}
			if diff := cmp.Diff(addrs(testRecords), s.Records(), equateAddr); diff != "" {
				t.Errorf("records changed (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSetAndDelete(t *testing.T) {
	s := newTestServer(t, Config{}, testRecords)
	addr := listen(t, s, false)
	if err := s.Set("New", netip.MustParseAddr("10.0.0.7")); err != nil {
		t.Fatal(err)
	}
	if err := s.Set("web", netip.MustParseAddr("10.0.0.8")); err != nil {
		t.Fatal(err)
	}
	if err := s.Set("bad.name", netip.MustParseAddr("10.0.0.9")); !errdefs.Is(err, errdefs.InvalidArgument) {
		t.Errorf("Set(bad.name) = %v, want InvalidArgument", err)
	}
	s.Delete("DB-1")
	s.Delete("never-there")
	want := addrs(map[string]string{"new": "10.0.0.7", "web": "10.0.0.8"})
	if diff := cmp.Diff(want, s.Records(), equateAddr); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}
	for name, ip := range map[string]string{"new.vm.": "10.0.0.7", "web.vm.": "10.0.0.8"} {
		r := ask(t, "udp", addr, name, mdns.TypeA)
		if len(r.Answer) != 1 || r.Answer[0].(*mdns.A).A.String() != ip {
			t.Errorf("%s: got %v, want %s", name, r.Answer, ip)
		}
	}
	// The old address no longer has a PTR; the new one does.
	if r := ask(t, "udp", addr, "2.0.0.10.in-addr.arpa.", mdns.TypePTR); r.Rcode != mdns.RcodeRefused {
		t.Errorf("PTR of the old address: %s, want REFUSED", mdns.RcodeToString[r.Rcode])
	}
	if r := ask(t, "udp", addr, "8.0.0.10.in-addr.arpa.", mdns.TypePTR); len(r.Answer) != 1 {
		t.Errorf("PTR of the new address: %v, want web.vm.", r.Answer)
	}
}

// TestSetRecordsAtomic swaps between two record sets while readers query:
// every reply must come from one set or the other, never a mixture or a gap.
func TestSetRecordsAtomic(t *testing.T) {
	a := map[string]string{"x": "10.1.0.1", "y": "10.1.0.2"}
	b := map[string]string{"y": "10.2.0.2", "z": "10.2.0.3"}
	s := newTestServer(t, Config{}, a)
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; !stop.Load(); i++ {
			recs := a
			if i%2 == 1 {
				recs = b
			}
			if err := s.SetRecords(addrs(recs)); err != nil {
				t.Error(err)
				return
			}
		}
	})
	// Query y through the answer path directly: its address must be one of
	// the two and the table's pieces consistent with each other.
	msg := new(mdns.Msg).SetQuestion("y.vm.", mdns.TypeA)
	raw, _ := msg.Pack()
	out := make([]byte, 0, maxLocalReply)
	var q query
	for range 20000 {
		reply, v := s.answer(out, raw, &q, false, true)
		r := new(mdns.Msg)
		if v != send || r.Unpack(reply) != nil || len(r.Answer) != 1 {
			t.Fatalf("y.vm.: verdict %v reply %v", v, r)
		}
		if ip := r.Answer[0].(*mdns.A).A.String(); ip != "10.1.0.2" && ip != "10.2.0.2" {
			t.Fatalf("y.vm. = %s, want an address from one of the sets", ip)
		}
		tab := s.records.Load()
		if len(tab.ips) != 2 || len(tab.byName) != 2 || len(tab.ptr) != 2 {
			t.Fatalf("inconsistent table: %d names, %d lookups, %d PTRs", len(tab.ips), len(tab.byName), len(tab.ptr))
		}
	}
	stop.Store(true)
	wg.Wait()
}

func TestNewServerValidates(t *testing.T) {
	tests := []struct {
		name     string
		cfg      Config
		mentions []string
	}{
		{"empty domain", Config{}, []string{"dns.domain"}},
		{"bad domain label", Config{Domain: "my_vms"}, []string{"my_vms"}},
		{"empty label", Config{Domain: "a..b"}, []string{"empty"}},
		{"host name upstream", Config{Domain: "vm", Upstreams: []string{"dns.google:53"}}, []string{"dns.google:53"}},
		{"no port", Config{Domain: "vm", Upstreams: []string{"192.0.2.1"}}, []string{`"192.0.2.1"`}},
		{"everything", Config{Domain: "-x", Upstreams: []string{"nope"}, MaxInflight: -1}, []string{"-x", "nope", "MaxInflight"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewServer(tt.cfg)
			if !errdefs.Is(err, errdefs.InvalidArgument) {
				t.Fatalf("NewServer = %v, want InvalidArgument", err)
			}
			for _, m := range tt.mentions {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not mention %q", err, m)
				}
			}
		})
	}
	s, err := NewServer(Config{Domain: "VM.", Upstreams: []string{"[2001:db8::1]:53"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Domain(); got != "vm." {
		t.Errorf("Domain() = %q, want %q", got, "vm.")
	}
}

func TestListenErrors(t *testing.T) {
	s := newTestServer(t, Config{}, nil)
	if _, err := s.Listen(context.Background(), "localhost:53", false); !errdefs.Is(err, errdefs.InvalidArgument) {
		t.Errorf("Listen(localhost:53) = %v, want InvalidArgument", err)
	}
	taken, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	if _, err := s.Listen(context.Background(), taken.LocalAddr().String(), false); !errdefs.Is(err, errdefs.Unavailable) || !strings.Contains(err.Error(), "dns.listen") {
		t.Errorf("Listen on a taken port = %v, want Unavailable naming dns.listen", err)
	}
}

// TestSetOnAnEmptyServer is how the daemon uses a new server: no
// SetRecords first, just Set as VMs attach.
func TestSetOnAnEmptyServer(t *testing.T) {
	s, err := NewServer(Config{Domain: "vm"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Set("a", netip.MustParseAddr("10.77.0.2")); err != nil {
		t.Fatal(err)
	}
	if got := s.Records(); len(got) != 1 || got["a"].String() != "10.77.0.2" {
		t.Fatalf("records = %v", got)
	}
}
