package netlink

import (
	"net/netip"
	"slices"

	vnl "github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// RoutedPrefixes are the IPv4 destinations the host already reaches
// directly or routes: every non-default route of every table (local,
// blackhole and unreachable routes included) and every address prefix on
// every link, masked to the network, sorted and without duplicates. Routes
// through and addresses on the link named exclude (banger's own bridge) are
// left out so that a restart does not clash with itself; a missing exclude
// link excludes nothing.
func RoutedPrefixes(exclude string) ([]netip.Prefix, error) {
	skip := 0
	if exclude != "" {
		l, err := lookup(exclude)
		if err != nil {
			return nil, err
		}
		if l != nil {
			skip = l.Attrs().Index
		}
	}
	var out []netip.Prefix
	routes, err := vnl.RouteListFiltered(vnl.FAMILY_V4, &vnl.Route{Table: unix.RT_TABLE_UNSPEC}, vnl.RT_FILTER_TABLE)
	if err != nil {
		return nil, hostErr("list routes", err)
	}
	for _, r := range routes {
		if skip != 0 && r.LinkIndex == skip {
			continue
		}
		p, ok := prefixOf(r.Dst)
		if !ok || p.Bits() == 0 {
			continue // the default route
		}
		out = append(out, p.Masked())
	}
	addrs, err := vnl.AddrList(nil, vnl.FAMILY_V4)
	if err != nil {
		return nil, hostErr("list addresses", err)
	}
	for _, a := range addrs {
		if skip != 0 && a.LinkIndex == skip {
			continue
		}
		if p, ok := prefixOf(a.IPNet); ok && p.Addr().Is4() {
			out = append(out, p.Masked())
		}
	}
	slices.SortFunc(out, func(a, b netip.Prefix) int { return a.Compare(b) })
	return slices.Compact(out), nil
}
