package netlink

import (
	"net/netip"
	"os"
	"strings"
	"testing"

	vnl "github.com/vishvananda/netlink"

	"banger/internal/netnstest"
)

// addVeth makes a plain (non-bridge, non-tap) link in the test's
// namespace: a veth whose peer lives, up, in a namespace of its own, so
// that the link gets a carrier once up. (This kernel has no dummy links.)
func addVeth(t *testing.T, name string) {
	t.Helper()
	ns := netnstest.New(t)
	if err := netnstest.Veth(name, "peer0", ns); err != nil {
		t.Fatal(err)
	}
	if err := ns.Do(func() error { return netnstest.LinkUp("peer0") }); err != nil {
		t.Fatal(err)
	}
}

// link finds a link the test expects to exist.
func link(t *testing.T, name string) vnl.Link {
	t.Helper()
	l, err := vnl.LinkByName(name)
	if err != nil {
		t.Fatalf("find %s: %v", name, err)
	}
	return l
}

// isUp reports whether the named link is administratively up.
func isUp(t *testing.T, name string) bool {
	t.Helper()
	return link(t, name).Attrs().RawFlags&1 != 0 // IFF_UP
}

// masterName is the name of the named link's master, or "".
func masterName(t *testing.T, name string) string {
	t.Helper()
	idx := link(t, name).Attrs().MasterIndex
	if idx == 0 {
		return ""
	}
	m, err := vnl.LinkByIndex(idx)
	if err != nil {
		t.Fatalf("find master of %s: %v", name, err)
	}
	return m.Attrs().Name
}

// v4Addrs lists the named link's IPv4 addresses.
func v4Addrs(t *testing.T, name string) []netip.Prefix {
	t.Helper()
	addrs, err := vnl.AddrList(link(t, name), vnl.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	var out []netip.Prefix
	for _, a := range addrs {
		p, _ := prefixOf(a.IPNet)
		out = append(out, p)
	}
	return out
}

// sysfs reads /sys/class/net/<link>/<attr>.
func sysfs(t *testing.T, name, attr string) string {
	t.Helper()
	b, err := os.ReadFile("/sys/class/net/" + name + "/" + attr)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}
