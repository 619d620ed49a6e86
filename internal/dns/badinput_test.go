package dns

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"net"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
)

// mustAnswer checks that the server still answers a good query over both
// protocols.
func mustAnswer(t *testing.T, addr, when string) {
	t.Helper()
	for _, network := range []string{"udp", "tcp"} {
		r, err := exchange(network, addr, "web.vm.", mdns.TypeA, 2*time.Second)
		// Right after a flood the socket's receive queue may still be full
		// and drop the query, as UDP may; a stub resolver asks again.
		for try := 1; network == "udp" && err != nil && try < 3; try++ {
			r, err = exchange(network, addr, "web.vm.", mdns.TypeA, 2*time.Second)
		}
		if err != nil || len(r.Answer) != 1 {
			t.Fatalf("after %s, %s query: reply %v, err %v", when, network, r, err)
		}
	}
}

func goodQuery(t testing.TB) []byte {
	t.Helper()
	raw, err := new(mdns.Msg).SetQuestion("web.vm.", mdns.TypeA).Pack()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// garbage is a set of malformed packets, each paired with the rcode the
// server must answer it with, or -1 for no answer at all.
func garbage(t testing.TB) []struct {
	name  string
	pkt   []byte
	rcode int
} {
	good := goodQuery(t)
	hdr := func(flags, qd, an, ns, ar uint16) []byte {
		b := make([]byte, headerLen)
		binary.BigEndian.PutUint16(b, 0x1234)
		binary.BigEndian.PutUint16(b[2:], flags)
		binary.BigEndian.PutUint16(b[4:], qd)
		binary.BigEndian.PutUint16(b[6:], an)
		binary.BigEndian.PutUint16(b[8:], ns)
		binary.BigEndian.PutUint16(b[10:], ar)
		return b
	}
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	huge := make([]byte, 60000)
	copy(huge, good)
	return []struct {
		name  string
		pkt   []byte
		rcode int
	}{
		{"empty", nil, -1},
		{"one byte", []byte{0}, -1},
		{"short header", good[:11], -1},
		{"a response", hdr(flagQR, 1, 0, 0, 0), -1},
		{"header only", hdr(0, 1, 0, 0, 0), rcodeFormErr},
		{"no question", hdr(0, 0, 0, 0, 0), rcodeFormErr},
		{"two questions", cat(hdr(0, 2, 0, 0, 0), good[12:], good[12:]), rcodeFormErr},
		{"cut in name", good[:15], rcodeFormErr},
		{"cut in type", good[:len(good)-3], rcodeFormErr},
		{"pointer loop", cat(hdr(0, 1, 0, 0, 0), []byte{0xc0, 12, 0, 1, 0, 1}), rcodeFormErr},
		{"label type 01", cat(hdr(0, 1, 0, 0, 0), []byte{0x41, 'a', 0, 0, 1, 0, 1}), rcodeFormErr},
		{"label past end", cat(hdr(0, 1, 0, 0, 0), []byte{63, 'a', 'b'}), rcodeFormErr},
		{"name over 255", cat(hdr(0, 1, 0, 0, 0), bytes.Repeat(cat([]byte{63}, bytes.Repeat([]byte{'a'}, 63)), 5), []byte{0, 0, 1, 0, 1}), rcodeFormErr},
		{"answer count", cat(hdr(0, 1, 1, 0, 0), good[12:]), rcodeFormErr},
		{"missing additional", cat(hdr(0, 1, 0, 0, 1), good[12:]), rcodeFormErr},
		{"cut OPT", cat(hdr(0, 1, 0, 0, 1), good[12:], []byte{0, 0, 41, 4}), rcodeFormErr},
		{"OPT rdata past end", cat(hdr(0, 1, 0, 0, 1), good[12:], []byte{0, 0, 41, 16, 0, 0, 0, 0, 0, 0, 9}), rcodeFormErr},
		{"two OPTs", cat(hdr(0, 1, 0, 0, 2), good[12:], []byte{0, 0, 41, 16, 0, 0, 0, 0, 0, 0, 0}, []byte{0, 0, 41, 16, 0, 0, 0, 0, 0, 0, 0}), rcodeFormErr},
		{"huge", huge, rcodeSuccess},
		{"trailing bytes", cat(good, []byte{1, 2, 3}), rcodeSuccess},
	}
}

func TestMalformedUDP(t *testing.T) {
	s := newTestServer(t, Config{}, testRecords)
	addr := listen(t, s, false)
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 65535)
	for _, tt := range garbage(t) {
		if _, err := c.Write(tt.pkt); err != nil {
			t.Fatalf("%s: write: %v", tt.name, err)
		}
		_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		n, err := c.Read(buf)
		switch {
		case tt.rcode < 0 && err == nil:
			t.Errorf("%s: got a %d-byte reply, want none", tt.name, n)
		case tt.rcode >= 0 && err != nil:
			t.Errorf("%s: no reply: %v", tt.name, err)
		case tt.rcode >= 0:
			r := new(mdns.Msg)
			if err := r.Unpack(buf[:n]); err != nil {
				t.Errorf("%s: reply does not parse: %v", tt.name, err)
			} else if r.Rcode != tt.rcode || !r.Response {
				t.Errorf("%s: rcode %s, want %s", tt.name, mdns.RcodeToString[r.Rcode], mdns.RcodeToString[tt.rcode])
			}
		}
	}
	// Random packets, some starting with a valid header.
	rng := rand.New(rand.NewPCG(1, 2))
	good := goodQuery(t)
	for i := range 3000 {
		pkt := make([]byte, rng.IntN(600))
		for j := range pkt {
			pkt[j] = byte(rng.Uint32())
		}
		if i%2 == 0 && len(pkt) > len(good) {
			copy(pkt, good[:4+rng.IntN(len(good)-4)])
		}
		_, _ = c.Write(pkt)
	}
	mustAnswer(t, addr, "random UDP packets")
}

func TestMalformedTCP(t *testing.T) {
	s := newTestServer(t, Config{}, testRecords)
	addr := listen(t, s, false)
	good := goodQuery(t)
	framed := func(msg []byte) []byte { return append(binary.BigEndian.AppendUint16(nil, uint16(len(msg))), msg...) }
	sends := map[string][]byte{
		"random bytes":       bytes.Repeat([]byte{0xde, 0xad, 0xbe, 0xef}, 5000),
		"length only":        {0x10, 0x00},
		"short message":      framed(good[:5]),
		"cut message":        framed(good)[:10],
		"length past data":   append([]byte{0xff, 0xff}, good...),
		"one byte":           {0x01},
		"response":           framed(append([]byte{0, 1, 0x80, 0}, good[4:]...)),
		"garbage after good": append(framed(good), 0xff, 0xff, 0xff),
	}
	var conns []net.Conn
	for name, data := range sends {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		conns = append(conns, c)
		if _, err := c.Write(data); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	// Half of the connections stay open and idle while good queries come.
	for i, c := range conns {
		if i%2 == 0 {
			_ = c.Close()
		}
	}
	mustAnswer(t, addr, "TCP garbage")
	for _, c := range conns {
		_ = c.Close()
	}
	// Several queries on one connection, as RFC 7766 allows.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	co := &mdns.Conn{Conn: c}
	for i := range 3 {
		if _, err := co.Write(good); err != nil {
			t.Fatal(err)
		}
		r, err := co.ReadMsg()
		if err != nil || len(r.Answer) != 1 {
			t.Fatalf("query %d on one connection: %v %v", i, r, err)
		}
	}
}

// FuzzAnswer feeds arbitrary packets to the answer path: it must never
// panic, and whatever it sends must be a well-formed response.
func FuzzAnswer(f *testing.F) {
	for _, tt := range garbage(f) {
		f.Add(tt.pkt)
	}
	for _, name := range []string{"web.vm.", "VM.", "2.0.0.10.in-addr.arpa.", "example.com.", "x.y.vm."} {
		for _, qtype := range []uint16{mdns.TypeA, mdns.TypeAAAA, mdns.TypePTR, mdns.TypeANY, mdns.TypeSOA} {
			m := new(mdns.Msg).SetQuestion(name, qtype)
			m.SetEdns0(1232, true)
			raw, _ := m.Pack()
			f.Add(raw)
		}
	}
	s, err := NewServer(Config{Domain: "vm"})
	if err != nil {
		f.Fatal(err)
	}
	if err := s.SetRecords(addrs(testRecords)); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, pkt []byte) {
		out := make([]byte, 0, maxLocalReply)
		var q query
		for _, udp := range []bool{true, false} {
			reply, v := s.answer(out, pkt, &q, true, udp)
			if v != send {
				continue
			}
			if udp && len(reply) > max(512, q.udpSize) {
				t.Fatalf("UDP reply of %d bytes exceeds the limit", len(reply))
			}
			r := new(mdns.Msg)
			if err := r.Unpack(reply); err != nil {
				t.Fatalf("reply to %x does not parse: %v", pkt, err)
			}
			if !r.Response {
				t.Fatalf("reply to %x is not a response", pkt)
			}
		}
	})
}
