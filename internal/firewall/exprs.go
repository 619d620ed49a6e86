package firewall

import (
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// Registers. A concatenated set key is laid out in consecutive 32-bit
// registers starting at reg32_00 (8); an interface name takes four of them
// and an Ethernet address two (padded), so the fields of the keys used here
// start at these registers.
const (
	regKey0  = 8  // first field of a concatenated key: an ifname (8..11)
	regKey1  = 12 // second field: ether addr (12..13), ifname or group id
	regKey2  = 14 // third field, after an ether addr: an IPv4 address
	regPlain = 1  // a 16-byte register for single comparisons
)

// Ethernet types, as they appear on the wire.
var (
	etherIPv4 = []byte{0x08, 0x00}
	etherARP  = []byte{0x08, 0x06}
	// arpIPv4Ether is the fixed start of an ARP packet for IPv4 over
	// Ethernet: htype 1, ptype 0x0800, hlen 6, plen 4.
	arpIPv4Ether = []byte{0x00, 0x01, 0x08, 0x00, 0x06, 0x04}
)

// ifname is a link name as the kernel loads it into a register: IFNAMSIZ
// bytes, NUL-padded.
func ifname(name string) []byte {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, name)
	return b
}

func meta(key expr.MetaKey, reg uint32) expr.Any { return &expr.Meta{Key: key, Register: reg} }

func load(base expr.PayloadBase, offset, length, reg uint32) expr.Any {
	return &expr.Payload{DestRegister: reg, Base: base, Offset: offset, Len: length}
}

func compare(op expr.CmpOp, reg uint32, data []byte) expr.Any {
	return &expr.Cmp{Op: op, Register: reg, Data: data}
}

func verdict(kind expr.VerdictKind) expr.Any { return &expr.Verdict{Kind: kind} }

func lookup(s *setDef, reg uint32, invert bool) expr.Any {
	return &expr.Lookup{SourceRegister: reg, SetName: s.set.Name, SetID: s.set.ID, Invert: invert}
}

// matchIf matches the packet's input (key IIFNAME) or output (OIFNAME)
// interface, or the bridge it arrived on (BRIIIFNAME), against name.
func matchIf(key expr.MetaKey, op expr.CmpOp, name string) []expr.Any {
	return []expr.Any{meta(key, regPlain), compare(op, regPlain, ifname(name))}
}

// matchEtherType matches the frame's Ethernet type (bridge family).
func matchEtherType(t []byte) []expr.Any {
	return []expr.Any{load(expr.PayloadBaseLLHeader, 12, 2, regPlain), compare(expr.CmpOpEq, regPlain, t)}
}

// matchIPv4 matches IPv4 packets in the inet family.
func matchIPv4() []expr.Any {
	return []expr.Any{meta(expr.MetaKeyNFPROTO, regPlain), compare(expr.CmpOpEq, regPlain, []byte{unix.NFPROTO_IPV4})}
}

// notIPv4 matches anything but IPv4 in the inet family.
func notIPv4() []expr.Any {
	return []expr.Any{meta(expr.MetaKeyNFPROTO, regPlain), compare(expr.CmpOpNeq, regPlain, []byte{unix.NFPROTO_IPV4})}
}

// matchEstablished matches `ct state established,related`.
func matchEstablished() []expr.Any {
	bits := expr.CtStateBitESTABLISHED | expr.CtStateBitRELATED
	return []expr.Any{
		&expr.Ct{Key: expr.CtKeySTATE, Register: regPlain},
		&expr.Bitwise{SourceRegister: regPlain, DestRegister: regPlain, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(bits), Xor: binaryutil.NativeEndian.PutUint32(0)},
		compare(expr.CmpOpNeq, regPlain, []byte{0, 0, 0, 0}),
	}
}

// matchPort matches an L4 protocol and its destination port.
func matchPort(proto byte, port uint16) []expr.Any {
	return []expr.Any{
		meta(expr.MetaKeyL4PROTO, regPlain), compare(expr.CmpOpEq, regPlain, []byte{proto}),
		load(expr.PayloadBaseTransportHeader, 2, 2, regPlain),
		compare(expr.CmpOpEq, regPlain, binaryutil.BigEndian.PutUint16(port)),
	}
}

// join concatenates expression lists into one rule body.
func join(parts ...[]expr.Any) []expr.Any {
	var out []expr.Any
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}
