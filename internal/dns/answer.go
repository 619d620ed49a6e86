package dns

import "bytes"

// verdict is what to do with a packet.
type verdict int

const (
	drop    verdict = iota // send nothing
	send                   // send the reply
	forward                // forward the query to the upstreams
)

// answer decides what to do with msg and, for send, writes the reply into
// out (whose capacity must be at least maxLocalReply). q is scratch space
// that answer fills in. fwd says whether the listener forwards names outside
// the domain; udp whether msg came over UDP (which limits the reply's size).
func (s *Server) answer(out, msg []byte, q *query, fwd, udp bool) ([]byte, verdict) {
	hdrOK, err := q.parse(msg)
	if err != nil {
		if !hdrOK {
			return nil, drop
		}
		return errorReply(out, msg, q, false, rcodeFormErr), send
	}
	switch {
	case q.opcode() != 0:
		return errorReply(out, msg, q, true, rcodeNotImp), send
	case q.edns && q.version != 0:
		return errorReply(out, msg, q, true, rcodeBadVers), send
	}
	var flags uint16 = flagAA
	if fwd {
		flags |= flagRA
	}
	t := s.records.Load()
	name := q.lname()
	limit := maxLen(q, udp)
	inClass := q.qclass == classIN || q.qclass == typeANY

	switch label, where := s.zone.locate(name); {
	case where == outside:
		if rr, ok := t.ptr[string(name)]; ok && inClass {
			out = q.reply(out, msg, rcodeSuccess, flags)
			if q.qtype != typePTR && q.qtype != typeANY {
				return q.finish(out, 0, 0, rcodeSuccess, limit), send
			}
			out = append(out, rr...)
			return q.finish(out, 1, 0, rcodeSuccess, limit), send
		}
		if fwd {
			return nil, forward
		}
		return errorReply(out, msg, q, true, rcodeRefused), send
	case !inClass:
		return errorReply(out, msg, q, true, rcodeRefused), send
	case where == apex:
		out = q.reply(out, msg, rcodeSuccess, flags)
		switch q.qtype {
		case typeSOA:
			return q.finish(append(out, t.soa...), 1, 0, rcodeSuccess, limit), send
		case typeNS:
			return q.finish(append(out, t.ns...), 1, 0, rcodeSuccess, limit), send
		case typeANY:
			out = append(append(out, t.soa...), t.ns...)
			return q.finish(out, 2, 0, rcodeSuccess, limit), send
		}
		return q.finish(append(out, t.soa...), 0, 1, rcodeSuccess, limit), send
	case where == host:
		ip, ok := t.byName[string(label)]
		if !ok {
			break
		}
		out = q.reply(out, msg, rcodeSuccess, flags)
		if q.qtype == typeA || q.qtype == typeANY {
			return q.finish(appendA(out, ip), 1, 0, rcodeSuccess, limit), send
		}
		// The name exists but has no record of this type (AAAA among them).
		return q.finish(append(out, t.soa...), 0, 1, rcodeSuccess, limit), send
	}
	out = q.reply(out, msg, rcodeNXDomain, flags)
	return q.finish(append(out, t.soa...), 0, 1, rcodeNXDomain, limit), send
}

// maxLocalReply bounds every reply answer builds: a header, a question of
// at most 255+4 bytes, and at most two records owned by names of at most
// 255 bytes with rdata of at most three names, plus an OPT record.
const maxLocalReply = 12 + 259 + 2*(255+10+3*255+20) + 11

// position is where a name lies relative to the zone.
type position int

const (
	outside position = iota // not in the domain
	apex                    // the domain itself
	host                    // exactly one label below the domain
	deeper                  // further below, where nothing exists
)

// locate finds where the lowercase wire name lies relative to the zone and,
// for host, returns its first label.
func (z zone) locate(name []byte) ([]byte, position) {
	if bytes.Equal(name, z.wire) {
		return nil, apex
	}
	cut := len(name) - len(z.wire)
	if cut <= 0 || !bytes.Equal(name[cut:], z.wire) {
		return nil, outside
	}
	off := 0
	for off < cut {
		off += 1 + int(name[off])
	}
	if off != cut {
		// The suffix matched in the middle of a label.
		return nil, outside
	}
	if first := 1 + int(name[0]); first == cut {
		return name[1:first], host
	}
	return nil, deeper
}
