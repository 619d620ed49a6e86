package netlink

import (
	"crypto/sha256"
	"errors"
	"net"
	"net/netip"

	vnl "github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"banger/internal/errdefs"
)

// Bridge is banger's bridge: its name and the gateway address with prefix
// (10.77.0.1/24).
type Bridge struct {
	Name string
	Addr netip.Prefix
}

// EnsureBridge creates the bridge when missing, makes Addr its only IPv4
// address and sets it up. It is idempotent. A link of that name that is not
// a bridge is an error naming it. IPv6 addresses are left alone.
func EnsureBridge(b Bridge) error {
	if err := ValidLinkName(b.Name); err != nil {
		return err
	}
	if !b.Addr.IsValid() || !b.Addr.Addr().Is4() {
		return errdefs.InvalidArgumentf("bridge %s address %s is not an IPv4 address with prefix: use one like 10.77.0.1/24", b.Name, b.Addr)
	}
	l, err := lookup(b.Name)
	if err != nil {
		return err
	}
	if l == nil {
		err := vnl.LinkAdd(&vnl.Bridge{LinkAttrs: vnl.LinkAttrs{Name: b.Name}})
		if err != nil && !errors.Is(err, unix.EEXIST) {
			return hostErr("create bridge "+b.Name, err)
		}
		if l, err = mustLookup(b.Name, "bridge"); err != nil {
			return err
		}
		if err := vnl.LinkSetAlias(l, BridgeAlias); err != nil {
			return hostErr("mark bridge "+b.Name+" as banger's", err)
		}
		if l, err = mustLookup(b.Name, "bridge"); err != nil {
			return err
		}
	}
	if l.Type() != "bridge" {
		return errdefs.FailedPreconditionf("link %s exists and is a %s, not a bridge: delete it or set another bridge name", b.Name, l.Type())
	}
	// Someone else's bridge (docker0, virbr0, a bridge of the host's
	// uplink) is never taken over: its addresses would be replaced.
	if l.Attrs().Alias != BridgeAlias {
		return errdefs.FailedPreconditionf("bridge %s exists and was not made by banger (its alias is %q, not %q): set network.bridge to a name no other tool uses", b.Name, l.Attrs().Alias, BridgeAlias)
	}
	// A bridge without a MAC of its own takes the lowest of its ports',
	// which changes as taps come and go and leaves guests with a stale
	// gateway in their ARP cache; a set MAC stays.
	if mac := BridgeMAC(b.Name); l.Attrs().HardwareAddr.String() != mac.String() {
		if err := vnl.LinkSetHardwareAddr(l, mac); err != nil {
			return hostErr("set the MAC of bridge "+b.Name, err)
		}
	}
	if err := setOnlyAddr(l, b.Addr); err != nil {
		return err
	}
	if err := vnl.LinkSetUp(l); err != nil {
		return hostErr("set bridge "+b.Name+" up", err)
	}
	return nil
}

// setOnlyAddr makes want the link's only IPv4 address. Other addresses go
// first: were one of them the primary of want's subnet, deleting it after
// adding want would take want with it.
func setOnlyAddr(l vnl.Link, want netip.Prefix) error {
	name := l.Attrs().Name
	addrs, err := vnl.AddrList(l, vnl.FAMILY_V4)
	if err != nil {
		return hostErr("list addresses of "+name, err)
	}
	have := false
	for _, a := range addrs {
		p, ok := prefixOf(a.IPNet)
		if ok && p == want {
			have = true
			continue
		}
		if err := vnl.AddrDel(l, &a); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
			return hostErr("remove address "+a.IPNet.String()+" from "+name, err)
		}
	}
	if have {
		return nil
	}
	addr := &vnl.Addr{IPNet: &net.IPNet{
		IP:   want.Addr().AsSlice(),
		Mask: net.CIDRMask(want.Bits(), 32),
	}}
	if err := vnl.AddrReplace(l, addr); err != nil {
		return hostErr("add address "+want.String()+" to "+name, err)
	}
	return nil
}

// prefixOf converts an IPv4 net.IPNet to a netip.Prefix keeping the host
// bits (10.77.0.1/24 stays 10.77.0.1/24).
func prefixOf(n *net.IPNet) (netip.Prefix, bool) {
	if n == nil {
		return netip.Prefix{}, false
	}
	ip, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	ones, _ := n.Mask.Size()
	return netip.PrefixFrom(ip.Unmap(), ones), true
}

// BridgeAlias marks the bridges banger made (the link's ifalias).
const BridgeAlias = "banger"

// BridgeMAC is the fixed MAC of the named bridge: locally administered,
// unicast, derived from the name.
func BridgeMAC(name string) net.HardwareAddr {
	sum := sha256.Sum256([]byte("banger bridge " + name))
	return net.HardwareAddr{0x0a, sum[0], sum[1], sum[2], sum[3], sum[4]}
}
