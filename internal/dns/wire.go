package dns

import (
	"encoding/binary"
	"errors"
)

// The hot path reads queries and writes answers directly in wire format
// (RFC 1035 section 4), without unpacking into objects, so that a local
// answer costs no allocation.

const (
	headerLen = 12

	typeA    = 1
	typeNS   = 2
	typeSOA  = 6
	typePTR  = 12
	typeAAAA = 28
	typeOPT  = 41
	typeANY  = 255
	classIN  = 1

	rcodeSuccess  = 0
	rcodeFormErr  = 1
	rcodeServFail = 2
	rcodeNXDomain = 3
	rcodeNotImp   = 4
	rcodeRefused  = 5
	rcodeBadVers  = 16 // extended: needs an OPT record

	flagQR = 1 << 15
	flagAA = 1 << 10
	flagTC = 1 << 9
	flagRD = 1 << 8
	flagRA = 1 << 7
	flagDO = 1 << 15 // in the OPT record's TTL field

	// ednsSize is the UDP payload size banger advertises (the DNS flag day
	// 2020 value, which avoids fragmentation).
	ednsSize   = 1232
	minUDPSize = 512
)

var errMalformed = errors.New("malformed DNS message")

// query is what the hot path needs to know about a parsed query.
type query struct {
	id, flags     uint16
	qEnd          int // offset just past the question section
	nameLen       int // length of the question name in wire form
	qtype, qclass uint16
	name          [255]byte // the question name, lowercased, wire form

	edns    bool
	version uint8
	do      bool
	udpSize int
}

func (q *query) opcode() int { return int(q.flags>>11) & 0xf }

// lname returns the lowercased wire form of the question name.
func (q *query) lname() []byte { return q.name[:q.nameLen] }

// parse fills q from msg. It fails if msg is not a query with exactly one
// question that can be answered, and reports through hdrOK whether the
// header at least could be read (so that a FORMERR can be sent back).
func (q *query) parse(msg []byte) (hdrOK bool, err error) {
	if len(msg) < headerLen {
		return false, errMalformed
	}
	q.id = binary.BigEndian.Uint16(msg)
	q.flags = binary.BigEndian.Uint16(msg[2:])
	q.edns, q.version, q.do, q.udpSize = false, 0, false, minUDPSize
	if q.flags&flagQR != 0 {
		// A response: never answer it, or two servers could ping-pong.
		return false, errMalformed
	}
	qd := binary.BigEndian.Uint16(msg[4:])
	an := binary.BigEndian.Uint16(msg[6:])
	ns := binary.BigEndian.Uint16(msg[8:])
	ar := binary.BigEndian.Uint16(msg[10:])
	if qd != 1 || an != 0 || ns != 0 {
		return true, errMalformed
	}
	off, n := headerLen, 0
	for {
		if off >= len(msg) {
			return true, errMalformed
		}
		l := int(msg[off])
		if l&0xc0 != 0 || n+1+l > len(q.name) || off+1+l > len(msg) {
			// Compression pointers have no place in a question, and
			// the other label types are obsolete.
			return true, errMalformed
		}
		q.name[n] = byte(l)
		for i := 1; i <= l; i++ {
			c := msg[off+i]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			q.name[n+i] = c
		}
		off += 1 + l
		n += 1 + l
		if l == 0 {
			break
		}
	}
	if off+4 > len(msg) {
		return true, errMalformed
	}
	q.nameLen = n
	q.qtype = binary.BigEndian.Uint16(msg[off:])
	q.qclass = binary.BigEndian.Uint16(msg[off+2:])
	q.qEnd = off + 4
	return true, q.parseAdditional(msg, q.qEnd, int(ar))
}

// parseAdditional reads the additional section for an OPT record (RFC 6891).
func (q *query) parseAdditional(msg []byte, off, count int) error {
	for range count {
		start := off
		var err error
		if off, err = skipName(msg, off); err != nil {
			return err
		}
		if off+10 > len(msg) {
			return errMalformed
		}
		rrtype := binary.BigEndian.Uint16(msg[off:])
		class := binary.BigEndian.Uint16(msg[off+2:])
		ttlField := binary.BigEndian.Uint32(msg[off+4:])
		rdlen := int(binary.BigEndian.Uint16(msg[off+8:]))
		off += 10 + rdlen
		if off > len(msg) {
			return errMalformed
		}
		if rrtype != typeOPT {
			continue
		}
		if q.edns || off-rdlen-10 != start+1 {
			// A second OPT, or one not owned by the root.
			return errMalformed
		}
		q.edns = true
		q.udpSize = max(int(class), minUDPSize)
		q.version = uint8(ttlField >> 16)
		q.do = ttlField&flagDO != 0
	}
	return nil
}

// skipName returns the offset just past the (possibly compressed) name at off.
func skipName(msg []byte, off int) (int, error) {
	for {
		if off >= len(msg) {
			return 0, errMalformed
		}
		l := int(msg[off])
		switch {
		case l == 0:
			return off + 1, nil
		case l&0xc0 == 0xc0:
			if off+2 > len(msg) {
				return 0, errMalformed
			}
			return off + 2, nil
		case l&0xc0 != 0:
			return 0, errMalformed
		}
		off += 1 + l
	}
}

// reply writes into out (which it returns, resliced) the header and
// question of the answer to q, the query in msg. Sections are appended by
// the caller, which then calls finish.
func (q *query) reply(out, msg []byte, rcode int, flags uint16) []byte {
	out = out[:headerLen]
	binary.BigEndian.PutUint16(out, q.id)
	f := flagQR | q.flags&(0xf<<11|flagRD) | flags | uint16(rcode&0xf)
	binary.BigEndian.PutUint16(out[2:], f)
	binary.BigEndian.PutUint16(out[4:], 1)
	clear(out[6:headerLen])
	return append(out, msg[headerLen:q.qEnd]...)
}

// errorReply is the answer with rcode and no records. When msg is too
// broken to have a question, the reply carries only the header.
func errorReply(out, msg []byte, q *query, parsedQuestion bool, rcode int) []byte {
	if !parsedQuestion {
		out = out[:headerLen]
		copy(out, msg[:4])
		binary.BigEndian.PutUint16(out[2:], flagQR|binary.BigEndian.Uint16(msg[2:])&(0xf<<11|flagRD)|uint16(rcode))
		clear(out[4:headerLen])
		return out
	}
	out = q.reply(out, msg, rcode, 0)
	return q.finish(out, 0, 0, rcode, maxLen(q, true))
}

// finish sets the answer and authority counts, appends the OPT record when
// the query had one, and truncates to limit bytes (setting TC) when needed.
func (q *query) finish(out []byte, an, ns, rcode, limit int) []byte {
	binary.BigEndian.PutUint16(out[6:], uint16(an))
	binary.BigEndian.PutUint16(out[8:], uint16(ns))
	optLen := 0
	if q.edns {
		optLen = 11
	}
	if len(out)+optLen > limit {
		out = out[:q.qEnd]
		binary.BigEndian.PutUint16(out[2:], binary.BigEndian.Uint16(out[2:])|flagTC)
		clear(out[6:10])
	}
	if q.edns {
		binary.BigEndian.PutUint16(out[10:], 1)
		var flags uint16
		if q.do {
			flags = flagDO
		}
		out = append(out, 0, 0, typeOPT, ednsSize>>8, ednsSize&0xff,
			byte(rcode>>4), 0, byte(flags>>8), byte(flags), 0, 0)
	}
	return out
}

// maxLen is the largest reply q's sender accepts.
func maxLen(q *query, udp bool) int {
	if !udp {
		return 65535
	}
	if q.edns {
		return min(q.udpSize, 65535)
	}
	return minUDPSize
}

// appendA appends an A record answering the question (its owner is a
// compression pointer to the question name at offset 12).
func appendA(out []byte, ip [4]byte) []byte {
	return append(out, 0xc0, headerLen, 0, typeA, 0, classIN, 0, 0, 0, ttl, 0, 4, ip[0], ip[1], ip[2], ip[3])
}
