// Package subnet holds banger's rules for the IPv4 network its VMs live
// on: which prefixes may be used (inside 10.0.0.0/8, 172.16.0.0/12 or
// 192.168.0.0/16, from /16 to /28), which address banger's bridge may take
// (a host address of such a prefix), and whether a prefix clashes with what
// the host already routes. The config, the network service and the root
// helper all apply these same rules, so that the helper never has to trust
// the daemon's checks and the two cannot drift apart.
//
// It does no I/O: reading the host's routes is the caller's business.
package subnet

import (
	"fmt"
	"net/netip"
)

// The prefix lengths a VM network may have: /16 holds 65534 VMs, /28
// holds 13 next to the bridge.
const (
	MinBits = 16
	MaxBits = 28
)

// private are the IPv4 private ranges of RFC 1918.
var private = []netip.Prefix{
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"),
}

// privateText names the private ranges in messages.
const privateText = "10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16"

// Problem says what is wrong with p as the network of banger's VMs, or ""
// when nothing is: p must be IPv4, lie wholly inside a private range and
// be /16 to /28 long. Host bits in p are ignored (see GatewayProblem).
func Problem(p netip.Prefix) string {
	switch {
	case !p.IsValid() || !p.Addr().Is4():
		return `must be an IPv4 prefix such as "10.77.0.0/24"`
	case !isPrivate(p.Masked()):
		return "must be a private range (" + privateText + ")"
	case p.Bits() < MinBits || p.Bits() > MaxBits:
		return fmt.Sprintf("must be between /%d and /%d", MinBits, MaxBits)
	}
	return ""
}

// GatewayProblem says what is wrong with a as the address of banger's
// bridge, with its prefix (10.77.0.1/24), or "" when nothing is: its
// network must pass Problem and a must be a host address of it, neither
// the network's address nor its broadcast address.
func GatewayProblem(a netip.Prefix) string {
	if !a.IsValid() || !a.Addr().Is4() {
		return `must be an IPv4 address with its prefix such as "10.77.0.1/24"`
	}
	if why := Problem(a); why != "" {
		return fmt.Sprintf("network %s %s", a.Masked(), why)
	}
	switch net := a.Masked(); a.Addr() {
	case net.Addr():
		return fmt.Sprintf("is the network address of %s: use a host address such as %s/%d", net, net.Addr().Next(), a.Bits())
	case Broadcast(net):
		return fmt.Sprintf("is the broadcast address of %s: use a host address such as %s/%d", net, net.Addr().Next(), a.Bits())
	}
	return ""
}

// isPrivate reports whether the whole of p lies in one private range.
func isPrivate(p netip.Prefix) bool {
	for _, r := range private {
		if p.Bits() >= r.Bits() && r.Contains(p.Addr()) {
			return true
		}
	}
	return false
}

// Broadcast is the last address of an IPv4 prefix.
func Broadcast(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3]) | host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// Clash returns the first of routes that p overlaps. Default routes
// (/0) are left out: they overlap everything and clash with nothing.
func Clash(p netip.Prefix, routes []netip.Prefix) (netip.Prefix, bool) {
	for _, r := range routes {
		if r.Bits() == 0 {
			continue
		}
		if r.Overlaps(p) {
			return r, true
		}
	}
	return netip.Prefix{}, false
}

// Free is the first private prefix of length bits that overlaps none of
// routes, searching 10.77-255.x, then 172.16-31.x, then 192.168.x.
func Free(bits int, routes []netip.Prefix) (netip.Prefix, bool) {
	var candidates []netip.Prefix
	for second := 77; second < 256; second++ {
		candidates = append(candidates, netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(second), 0, 0}), bits))
	}
	for second := 16; second < 32; second++ {
		candidates = append(candidates, netip.PrefixFrom(netip.AddrFrom4([4]byte{172, byte(second), 0, 0}), bits))
	}
	for third := 0; third < 256; third++ {
		candidates = append(candidates, netip.PrefixFrom(netip.AddrFrom4([4]byte{192, 168, byte(third), 0}), bits))
	}
	for _, c := range candidates {
		if _, clash := Clash(c.Masked(), routes); !clash {
			return c.Masked(), true
		}
	}
	return netip.Prefix{}, false
}
