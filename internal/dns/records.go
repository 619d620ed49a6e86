package dns

import (
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"strings"

	mdns "github.com/miekg/dns"

	"banger/internal/errdefs"
	"banger/internal/names"
)

// ttl is the TTL of every answer and of negative answers (the SOA minimum):
// records follow VMs that come and go, so caches must not hold them long.
const ttl = 5

// table is one immutable generation of the records, with everything the
// hot path needs pre-packed. It is replaced as a whole, never modified.
type table struct {
	ips    map[string]netip.Addr // lowercase label -> IPv4
	byName map[string][4]byte    // the same, keyed for zero-allocation lookups
	ptr    map[string][]byte     // lowercase wire reverse name -> packed PTR answer RR
	serial uint32
	soa    []byte // packed SOA RR owned by the apex, for answers and authority sections
	ns     []byte // packed NS RR owned by the apex
}

// zone holds what does not change with the records: the domain in its forms.
type zone struct {
	fqdn string // "vm."
	wire []byte // lowercase wire form of fqdn
}

func newZone(domain string) (zone, error) {
	d := strings.TrimSuffix(strings.ToLower(domain), ".")
	if d == "" {
		return zone{}, errdefs.InvalidArgumentf("invalid dns.domain %q: it is empty; use a name such as \"vm\"", domain)
	}
	var wire []byte
	for label := range strings.SplitSeq(d, ".") {
		if err := names.ValidateAs("dns.domain label", label); err != nil {
			return zone{}, err
		}
		wire = append(wire, byte(len(label)))
		wire = append(wire, label...)
	}
	wire = append(wire, 0)
	if len(wire) > 255-64 {
		return zone{}, errdefs.InvalidArgumentf("invalid dns.domain %q: it is %d characters long; use a domain short enough to leave room for a VM name", domain, len(d))
	}
	return zone{fqdn: d + ".", wire: wire}, nil
}

// checkRecord folds name to lower case and checks that it is a DNS label and
// that ip is IPv4.
func checkRecord(name string, ip netip.Addr) (string, error) {
	label := strings.ToLower(name)
	if err := names.ValidateAs("DNS record", label); err != nil {
		return "", err
	}
	if !ip.Is4() {
		return "", errdefs.InvalidArgumentf("invalid address %v for DNS record %q: records hold IPv4 addresses", ip, label)
	}
	return label, nil
}

// build packs a table for the records ips (already checked) at serial.
func (z zone) build(ips map[string]netip.Addr, serial uint32) (*table, error) {
	t := &table{
		ips:    ips,
		byName: make(map[string][4]byte, len(ips)),
		ptr:    make(map[string][]byte, len(ips)),
		serial: serial,
	}
	hdr := func(name string, rrtype uint16) mdns.RR_Header {
		return mdns.RR_Header{Name: name, Rrtype: rrtype, Class: mdns.ClassINET, Ttl: ttl}
	}
	var err error
	t.soa, err = packRR(&mdns.SOA{
		Hdr: hdr(z.fqdn, mdns.TypeSOA), Ns: z.fqdn, Mbox: "hostmaster." + z.fqdn,
		Serial: serial, Refresh: 3600, Retry: 600, Expire: 86400, Minttl: ttl,
	})
	if err != nil {
		return nil, err
	}
	if t.ns, err = packRR(&mdns.NS{Hdr: hdr(z.fqdn, mdns.TypeNS), Ns: z.fqdn}); err != nil {
		return nil, err
	}
	for label, ip := range ips {
		t.byName[label] = ip.As4()
		rev, err := mdns.ReverseAddr(ip.String())
		if err != nil {
			return nil, fmt.Errorf("reverse name of %v: %w", ip, err)
		}
		rr, err := packRR(&mdns.PTR{Hdr: hdr(rev, mdns.TypePTR), Ptr: label + "." + z.fqdn})
		if err != nil {
			return nil, err
		}
		key := make([]byte, 0, len(rev)+2)
		key, _ = appendWireName(key, rev)
		// Two VMs never share an address; if they did, the smaller name wins so
		// that the answer does not depend on map order.
		if old, ok := t.ptr[string(key)]; ok && string(old) < string(rr) {
			continue
		}
		t.ptr[string(key)] = rr
	}
	return t, nil
}

// packRR packs rr uncompressed, so that it can be copied into any message.
func packRR(rr mdns.RR) ([]byte, error) {
	buf := make([]byte, mdns.Len(rr)+16)
	n, err := mdns.PackRR(rr, buf, 0, nil, false)
	if err != nil {
		return nil, fmt.Errorf("pack %s record: %w", mdns.TypeToString[rr.Header().Rrtype], err)
	}
	return buf[:n], nil
}

// appendWireName appends the wire form of the fully qualified, lowercase
// name fqdn to b.
func appendWireName(b []byte, fqdn string) ([]byte, error) {
	for label := range strings.SplitSeq(strings.TrimSuffix(fqdn, "."), ".") {
		if label == "" || len(label) > 63 {
			return b, errors.New("bad label in " + fqdn)
		}
		b = append(b, byte(len(label)))
		b = append(b, label...)
	}
	return append(b, 0), nil
}

// SetRecords atomically replaces all records with recs (name label ->
// IPv4). Names are case-insensitive. If any name is not a DNS label or any
// address is not IPv4, nothing changes and the error names every problem.
func (s *Server) SetRecords(recs map[string]netip.Addr) error {
	ips := make(map[string]netip.Addr, len(recs))
	var errs []error
	for name, ip := range recs {
		label, err := checkRecord(name, ip)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		ips[label] = ip
	}
	if len(errs) > 0 {
		return errdefs.Wrap(errdefs.InvalidArgument, errors.Join(errs...))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.install(ips)
}

// Set adds or replaces the record name -> ip.
func (s *Server) Set(name string, ip netip.Addr) error {
	label, err := checkRecord(name, ip)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ips := maps.Clone(s.records.Load().ips)
	if ips == nil {
		ips = map[string]netip.Addr{}
	}
	ips[label] = ip
	return s.install(ips)
}

// Delete removes the record name, if there is one.
func (s *Server) Delete(name string) {
	label := strings.ToLower(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.records.Load()
	if _, ok := cur.ips[label]; !ok {
		return
	}
	ips := maps.Clone(cur.ips)
	delete(ips, label)
	if err := s.install(ips); err != nil {
		// Only packing can fail, and the remaining records packed before.
		s.log.Error("dns: rebuild records after delete", "name", label, "err", err)
	}
}

// Records returns a copy of the current records.
func (s *Server) Records() map[string]netip.Addr {
	return maps.Clone(s.records.Load().ips)
}

// install publishes a new table for ips. s.mu must be held.
func (s *Server) install(ips map[string]netip.Addr) error {
	t, err := s.zone.build(ips, s.records.Load().serial+1)
	if err != nil {
		return errdefs.Wrap(errdefs.Internal, err)
	}
	s.records.Store(t)
	return nil
}
