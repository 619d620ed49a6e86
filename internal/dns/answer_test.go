package dns

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	mdns "github.com/miekg/dns"
)

// summary is what the tests compare of a reply.
type summary struct {
	Rcode  string
	AA, TC bool
	Answer []string
	Ns     []string // record types only
}

func summarize(r *mdns.Msg) summary {
	s := summary{Rcode: mdns.RcodeToString[r.Rcode], AA: r.Authoritative, TC: r.Truncated}
	for _, rr := range r.Answer {
		s.Answer = append(s.Answer, rr.String())
	}
	for _, rr := range r.Ns {
		s.Ns = append(s.Ns, mdns.TypeToString[rr.Header().Rrtype])
	}
	return s
}

var testRecords = map[string]string{"web": "10.0.0.2", "db-1": "10.0.0.3"}

func TestLocalAnswers(t *testing.T) {
	s := newTestServer(t, Config{}, testRecords)
	addr := listen(t, s, false)
	tests := []struct {
		name  string
		qtype uint16
		want  summary
	}{
		{"web.vm.", mdns.TypeA, summary{Rcode: "NOERROR", AA: true, Answer: []string{"web.vm.\t5\tIN\tA\t10.0.0.2"}}},
		{"WeB.Vm.", mdns.TypeA, summary{Rcode: "NOERROR", AA: true, Answer: []string{"WeB.Vm.\t5\tIN\tA\t10.0.0.2"}}},
		{"db-1.vm.", mdns.TypeANY, summary{Rcode: "NOERROR", AA: true, Answer: []string{"db-1.vm.\t5\tIN\tA\t10.0.0.3"}}},
		{"web.vm.", mdns.TypeAAAA, summary{Rcode: "NOERROR", AA: true, Ns: []string{"SOA"}}},
		{"web.vm.", mdns.TypeMX, summary{Rcode: "NOERROR", AA: true, Ns: []string{"SOA"}}},
		{"nope.vm.", mdns.TypeA, summary{Rcode: "NXDOMAIN", AA: true, Ns: []string{"SOA"}}},
		{"a.web.vm.", mdns.TypeA, summary{Rcode: "NXDOMAIN", AA: true, Ns: []string{"SOA"}}},
		{"vm.", mdns.TypeNS, summary{Rcode: "NOERROR", AA: true, Answer: []string{"vm.\t5\tIN\tNS\tvm."}}},
		{"vm.", mdns.TypeA, summary{Rcode: "NOERROR", AA: true, Ns: []string{"SOA"}}},
		{"2.0.0.10.in-addr.arpa.", mdns.TypePTR, summary{Rcode: "NOERROR", AA: true, Answer: []string{"2.0.0.10.in-addr.arpa.\t5\tIN\tPTR\tweb.vm."}}},
		{"2.0.0.10.IN-ADDR.ARPA.", mdns.TypePTR, summary{Rcode: "NOERROR", AA: true, Answer: []string{"2.0.0.10.in-addr.arpa.\t5\tIN\tPTR\tweb.vm."}}},
		{"2.0.0.10.in-addr.arpa.", mdns.TypeA, summary{Rcode: "NOERROR", AA: true}},
		{"9.0.0.10.in-addr.arpa.", mdns.TypePTR, summary{Rcode: "REFUSED"}},
		{"example.com.", mdns.TypeA, summary{Rcode: "REFUSED"}},
		{"xvm.", mdns.TypeA, summary{Rcode: "REFUSED"}},
		{"web.vmx.", mdns.TypeA, summary{Rcode: "REFUSED"}},
	}
	for _, network := range []string{"udp", "tcp"} {
		for _, tt := range tests {
			got := summarize(ask(t, network, addr, tt.name, tt.qtype))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("%s %s over %s (-want +got):\n%s", tt.name, mdns.TypeToString[tt.qtype], network, diff)
			}
		}
	}
}

func TestApexSOA(t *testing.T) {
	s := newTestServer(t, Config{Domain: "Sandbox.Test."}, testRecords)
	addr := listen(t, s, false)
	r := ask(t, "udp", addr, "sandbox.test.", mdns.TypeSOA)
	if len(r.Answer) != 1 {
		t.Fatalf("got %d answers, want 1: %v", len(r.Answer), r)
	}
	soa, ok := r.Answer[0].(*mdns.SOA)
	if !ok {
		t.Fatalf("answer is %T, want SOA", r.Answer[0])
	}
	got := []any{soa.Hdr.Name, soa.Ns, soa.Mbox, soa.Minttl, soa.Hdr.Ttl}
	want := []any{"sandbox.test.", "sandbox.test.", "hostmaster.sandbox.test.", uint32(5), uint32(5)}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("SOA (-want +got):\n%s", diff)
	}
	// Every change bumps the serial.
	s.Delete("web")
	r = ask(t, "udp", addr, "sandbox.test.", mdns.TypeSOA)
	if got := r.Answer[0].(*mdns.SOA).Serial; got != soa.Serial+1 {
		t.Errorf("serial after Delete = %d, want %d", got, soa.Serial+1)
	}
	if got := summarize(ask(t, "udp", addr, "web.sandbox.test.", mdns.TypeA)).Rcode; got != "NXDOMAIN" {
		t.Errorf("deleted name: rcode %s, want NXDOMAIN", got)
	}
}

func TestEDNS(t *testing.T) {
	s := newTestServer(t, Config{}, testRecords)
	addr := listen(t, s, false)
	tests := []struct {
		version   uint8
		do        bool
		wantRcode int
	}{
		{0, false, mdns.RcodeSuccess},
		{0, true, mdns.RcodeSuccess},
		{1, false, mdns.RcodeBadVers},
	}
	for _, tt := range tests {
		m := new(mdns.Msg)
		m.SetQuestion("web.vm.", mdns.TypeA)
		m.SetEdns0(4096, tt.do)
		m.IsEdns0().SetVersion(tt.version)
		r, err := mdns.Exchange(m, addr)
		if err != nil {
			t.Fatalf("version %d: %v", tt.version, err)
		}
		opt := r.IsEdns0()
		if opt == nil {
			t.Fatalf("version %d: reply has no OPT record", tt.version)
		}
		got := []any{r.Rcode, opt.Version(), opt.Do(), opt.UDPSize()}
		want := []any{tt.wantRcode, uint8(0), tt.do, uint16(ednsSize)}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("version %d do %v: [rcode version do size] (-want +got):\n%s", tt.version, tt.do, diff)
		}
	}
}

func TestClassAndOpcode(t *testing.T) {
	s := newTestServer(t, Config{}, testRecords)
	addr := listen(t, s, true)
	m := new(mdns.Msg)
	m.SetQuestion("web.vm.", mdns.TypeA)
	m.Question[0].Qclass = mdns.ClassCHAOS
	r, err := mdns.Exchange(m, addr)
	if err != nil {
		t.Fatal(err)
	}
	if r.Rcode != mdns.RcodeRefused {
		t.Errorf("CHAOS class in the domain: rcode %s, want REFUSED", mdns.RcodeToString[r.Rcode])
	}
	m = new(mdns.Msg)
	m.SetNotify("vm.")
	if r, err = mdns.Exchange(m, addr); err != nil {
		t.Fatal(err)
	}
	if r.Rcode != mdns.RcodeNotImplemented {
		t.Errorf("NOTIFY: rcode %s, want NOTIMP", mdns.RcodeToString[r.Rcode])
	}
}

func TestLongAnswerTruncated(t *testing.T) {
	// A domain of ~190 bytes makes the NXDOMAIN reply with its SOA exceed
	// 512 bytes: over UDP without EDNS it must come back truncated.
	long := ""
	for range 3 {
		long += "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij."
	}
	s := newTestServer(t, Config{Domain: long + "vm"}, nil)
	addr := listen(t, s, false)
	r := ask(t, "udp", addr, "nope."+long+"vm.", mdns.TypeA)
	if diff := cmp.Diff(summary{Rcode: "NXDOMAIN", AA: true, TC: true}, summarize(r)); diff != "" {
		t.Errorf("UDP reply (-want +got):\n%s", diff)
	}
	r = ask(t, "tcp", addr, "nope."+long+"vm.", mdns.TypeA)
	if diff := cmp.Diff(summary{Rcode: "NXDOMAIN", AA: true, Ns: []string{"SOA"}}, summarize(r)); diff != "" {
		t.Errorf("TCP reply (-want +got):\n%s", diff)
	}
}
