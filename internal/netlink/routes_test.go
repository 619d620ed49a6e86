package netlink

import (
	"net"
	"net/netip"
	"testing"

	vnl "github.com/vishvananda/netlink"

	"banger/internal/netnstest"
)

func TestRoutedPrefixes(t *testing.T) {
	if !netnstest.Isolate(t) {
		return
	}
	addVeth(t, "up0")
	if err := netnstest.AddrAdd("up0", "192.0.2.7/24"); err != nil {
		t.Fatal(err)
	}
	// A route through a gateway on up0, in the main table and in another.
	for _, table := range []int{0, 100} {
		_, dst, _ := net.ParseCIDR("198.51.100.0/24")
		if table == 100 {
			_, dst, _ = net.ParseCIDR("203.0.113.0/25")
		}
		r := &vnl.Route{LinkIndex: link(t, "up0").Attrs().Index, Dst: dst, Gw: net.ParseIP("192.0.2.254"), Table: table}
		if err := vnl.RouteAdd(r); err != nil {
			t.Fatalf("add route %s table %d: %v", dst, table, err)
		}
	}
	// A default route must not show up.
	if err := vnl.RouteAdd(&vnl.Route{LinkIndex: link(t, "up0").Attrs().Index, Gw: net.ParseIP("192.0.2.254")}); err != nil {
		t.Fatalf("add default route: %v", err)
	}
	if err := EnsureBridge(Bridge{Name: "banger0", Addr: netip.MustParsePrefix("10.77.0.1/24")}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		exclude string
		want    map[string]bool // prefix -> present
	}{
		{"banger0", map[string]bool{
			"192.0.2.0/24": true, "198.51.100.0/24": true, "203.0.113.0/25": true,
			"127.0.0.0/8": true, "0.0.0.0/0": false, "10.77.0.0/24": false, "10.77.0.1/32": false,
		}},
		{"", map[string]bool{"10.77.0.0/24": true, "192.0.2.0/24": true}},
		{"nosuchlink", map[string]bool{"10.77.0.0/24": true}},
		{"up0", map[string]bool{"10.77.0.0/24": true, "192.0.2.0/24": false, "198.51.100.0/24": false, "203.0.113.0/25": false}},
	}
	for _, tt := range tests {
		got, err := RoutedPrefixes(tt.exclude)
		if err != nil {
			t.Fatal(err)
		}
		set := map[netip.Prefix]bool{}
		for i, p := range got {
			if p != p.Masked() {
				t.Errorf("RoutedPrefixes(%q) has unmasked %s", tt.exclude, p)
			}
			if i > 0 && got[i-1].Compare(p) >= 0 {
				t.Errorf("RoutedPrefixes(%q) not sorted and unique at %s", tt.exclude, p)
			}
			set[p] = true
		}
		for p, want := range tt.want {
			if set[netip.MustParsePrefix(p)] != want {
				t.Errorf("RoutedPrefixes(%q) contains %s = %v, want %v (got %v)", tt.exclude, p, !want, want, got)
			}
		}
	}
}
