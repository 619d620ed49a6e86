package guestnet

import (
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	vnl "github.com/vishvananda/netlink"

	"banger/internal/netnstest"
)

func TestFromCmdline(t *testing.T) {
	good := Config{Addr: netip.MustParsePrefix("10.77.0.5/24"), Gateway: netip.MustParseAddr("10.77.0.1"), DNS: netip.MustParseAddr("10.77.0.1")}
	tests := []struct {
		name    string
		cmdline string
		want    Config
		ok      bool
		err     string
	}{
		{"none", "console=ttyS0 reboot=k panic=1", Config{}, false, ""},
		{"all", "console=ttyS0 banger.ip=10.77.0.5/24 banger.gw=10.77.0.1 banger.dns=10.77.0.1 root=/dev/vda", good, true, ""},
		{"no prefix", "banger.ip=10.77.0.5", Config{}, true, "banger.ip"},
		{"ipv6 address", "banger.ip=fd00::5/64", Config{}, true, "banger.ip"},
		{"bad gateway", "banger.ip=10.77.0.5/24 banger.gw=x", Config{}, true, "banger.gw"},
		{"gateway off-link", "banger.ip=10.77.0.5/24 banger.gw=10.78.0.1", Config{}, true, "outside"},
		{"bad dns", "banger.ip=10.77.0.5/24 banger.dns=;rm", Config{}, true, "banger.dns"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok, err := FromCmdline(tt.cmdline)
			if ok != tt.ok || got != tt.want {
				t.Errorf("FromCmdline = %+v, %v; want %+v, %v", got, ok, tt.want, tt.ok)
			}
			if (err != nil) != (tt.err != "") || (err != nil && !strings.Contains(err.Error(), tt.err)) {
				t.Errorf("error = %v, want one mentioning %q", err, tt.err)
			}
		})
	}
}

func TestApplyConfiguresTheGuestLink(t *testing.T) {
	if !netnstest.Isolate(t) {
		return
	}
	peer := netnstest.New(t)
	if err := netnstest.Veth("eth0", "host0", peer); err != nil {
		t.Fatal(err)
	}
	resolv := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.Symlink("/run/systemd/resolve/stub-resolv.conf", resolv); err != nil {
		t.Fatal(err)
	}
	cfg := Config{Addr: netip.MustParsePrefix("10.77.0.5/24"), Gateway: netip.MustParseAddr("10.77.0.1"), DNS: netip.MustParseAddr("10.77.0.1")}
	for range 2 { // idempotent
		if err := Apply(cfg, resolv); err != nil {
			t.Fatal(err)
		}
	}
	link, err := vnl.LinkByName("eth0")
	if err != nil {
		t.Fatal(err)
	}
	addrs, err := vnl.AddrList(link, vnl.FAMILY_V4)
	if err != nil || len(addrs) != 1 || addrs[0].IPNet.String() != "10.77.0.5/24" {
		t.Fatalf("addresses of eth0 = %v, %v", addrs, err)
	}
	routes, err := vnl.RouteList(link, vnl.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	var def bool
	for _, r := range routes {
		if (r.Dst == nil || r.Dst.IP.IsUnspecified()) && r.Gw.String() == "10.77.0.1" {
			def = true
		}
	}
	if !def {
		t.Errorf("no default route via 10.77.0.1 in %v", routes)
	}
	b, err := os.ReadFile(resolv)
	if err != nil || !strings.Contains(string(b), "nameserver 10.77.0.1\n") {
		t.Errorf("resolv.conf = %q, %v", b, err)
	}
	if fi, _ := os.Lstat(resolv); fi.Mode()&os.ModeSymlink != 0 {
		t.Error("resolv.conf is still a symlink")
	}
}

// TestReconfigureMovesTheGuestLink: a link configured as the saved guest
// was ends with the new MAC, only the new address, and the default route
// through the new gateway.
func TestReconfigureMovesTheGuestLink(t *testing.T) {
	if !netnstest.Isolate(t) {
		return
	}
	peer := netnstest.New(t)
	if err := netnstest.Veth("eth0", "host0", peer); err != nil {
		t.Fatal(err)
	}
	resolv := filepath.Join(t.TempDir(), "resolv.conf")
	old := Config{Addr: netip.MustParsePrefix("10.77.0.5/24"), Gateway: netip.MustParseAddr("10.77.0.1"), DNS: netip.MustParseAddr("10.77.0.1")}
	if err := Apply(old, resolv); err != nil {
		t.Fatal(err)
	}
	mac, _ := net.ParseMAC("02:bc:00:00:00:09")
	cfg := Config{Addr: netip.MustParsePrefix("10.78.0.9/24"), Gateway: netip.MustParseAddr("10.78.0.1"), DNS: netip.MustParseAddr("10.78.0.1")}
	for range 2 { // idempotent
		if err := Reconfigure(cfg, mac, resolv); err != nil {
			t.Fatal(err)
		}
	}
	link, err := vnl.LinkByName("eth0")
	if err != nil {
		t.Fatal(err)
	}
	if got := link.Attrs().HardwareAddr.String(); got != mac.String() {
		t.Errorf("MAC of eth0 = %s, want %s", got, mac)
	}
	if link.Attrs().Flags&net.FlagUp == 0 {
		t.Error("eth0 is down")
	}
	addrs, err := vnl.AddrList(link, vnl.FAMILY_V4)
	if err != nil || len(addrs) != 1 || addrs[0].IPNet.String() != "10.78.0.9/24" {
		t.Fatalf("addresses of eth0 = %v, %v; want only 10.78.0.9/24", addrs, err)
	}
	routes, err := vnl.RouteList(link, vnl.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	var def bool
	for _, r := range routes {
		if (r.Dst == nil || r.Dst.IP.IsUnspecified()) && r.Gw.String() == "10.78.0.1" {
			def = true
		}
	}
	if !def {
		t.Errorf("no default route via 10.78.0.1: %v", routes)
	}
	if b, err := os.ReadFile(resolv); err != nil || !strings.Contains(string(b), "nameserver 10.78.0.1") {
		t.Errorf("resolv.conf = %q, %v", b, err)
	}
}
