package subnet

import (
	"net/netip"
	"strings"
	"testing"
)

func TestProblem(t *testing.T) {
	tests := []struct {
		prefix string
		saying string // "" for none
	}{
		{"10.77.0.0/24", ""},
		{"10.0.0.0/16", ""},
		{"172.31.255.240/28", ""},
		{"192.168.0.0/16", ""},
		{"10.77.0.1/24", ""}, // host bits are GatewayProblem's business
		{"0.0.0.0/0", "private range"},
		{"128.0.0.0/1", "private range"},
		{"8.8.8.0/24", "private range"},
		{"172.15.0.0/16", "private range"},
		{"172.32.0.0/16", "private range"},
		{"192.169.0.0/16", "private range"},
		{"100.64.0.0/16", "private range"},
		{"169.254.0.0/16", "private range"},
		{"127.0.0.0/16", "private range"},
		{"10.0.0.0/8", "between /16 and /28"},
		{"172.16.0.0/12", "between /16 and /28"},
		{"192.168.0.0/15", "private range"}, // reaches past 192.168/16
		{"10.77.0.0/29", "between /16 and /28"},
		{"10.77.0.0/30", "between /16 and /28"},
		{"10.77.0.0/32", "between /16 and /28"},
		{"fd00::/64", "IPv4"},
	}
	for _, tt := range tests {
		got := Problem(netip.MustParsePrefix(tt.prefix))
		if (tt.saying == "") != (got == "") || !strings.Contains(got, tt.saying) {
			t.Errorf("Problem(%s) = %q, want one saying %q", tt.prefix, got, tt.saying)
		}
	}
	if got := Problem(netip.Prefix{}); !strings.Contains(got, "IPv4") {
		t.Errorf("Problem(zero prefix) = %q, want one saying IPv4", got)
	}
}

func TestGatewayProblem(t *testing.T) {
	tests := []struct {
		addr   string
		saying string // "" for none
	}{
		{"10.77.0.1/24", ""},
		{"10.77.0.254/24", ""},
		{"192.168.200.17/28", ""},
		{"172.20.3.4/16", ""},
		{"128.0.0.1/1", "private range"},
		{"0.0.0.0/0", "private range"},
		{"1.2.3.4/24", "private range"},
		{"203.0.113.1/24", "private range"},
		{"10.0.0.1/8", "between /16 and /28"},
		{"10.77.0.1/30", "between /16 and /28"},
		{"10.77.0.1/32", "between /16 and /28"},
		{"10.77.0.0/24", "network address"},
		{"10.77.0.255/24", "broadcast address"},
		{"10.77.255.255/16", "broadcast address"},
		{"fd00::1/64", "IPv4"},
	}
	for _, tt := range tests {
		got := GatewayProblem(netip.MustParsePrefix(tt.addr))
		if (tt.saying == "") != (got == "") || !strings.Contains(got, tt.saying) {
			t.Errorf("GatewayProblem(%s) = %q, want one saying %q", tt.addr, got, tt.saying)
		}
	}
	if got := GatewayProblem(netip.Prefix{}); !strings.Contains(got, "IPv4") {
		t.Errorf("GatewayProblem(zero prefix) = %q, want one saying IPv4", got)
	}
}

func TestClashAndFree(t *testing.T) {
	routes := []netip.Prefix{
		netip.MustParsePrefix("0.0.0.0/0"),
		netip.MustParsePrefix("10.77.0.0/16"),
		netip.MustParsePrefix("10.78.5.0/24"),
		netip.MustParsePrefix("192.168.1.0/24"),
	}
	tests := []struct {
		prefix string
		clash  string // "" for none
	}{
		{"10.77.3.0/24", "10.77.0.0/16"},
		{"10.78.0.0/16", "10.78.5.0/24"},
		{"10.79.0.0/24", ""},
		{"192.168.1.0/28", "192.168.1.0/24"},
		{"192.168.2.0/24", ""},
	}
	for _, tt := range tests {
		got, ok := Clash(netip.MustParsePrefix(tt.prefix), routes)
		if tt.clash == "" && ok || tt.clash != "" && (!ok || got.String() != tt.clash) {
			t.Errorf("Clash(%s) = %v, %v; want %q", tt.prefix, got, ok, tt.clash)
		}
	}
	if got, ok := Free(24, routes); !ok || got != netip.MustParsePrefix("10.78.0.0/24") {
		t.Errorf("Free(24) = %v, %v; want 10.78.0.0/24", got, ok)
	}
	all := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("172.16.0.0/12"), netip.MustParsePrefix("192.168.0.0/16")}
	if got, ok := Free(24, all); ok {
		t.Errorf("Free(24) with every private range routed = %v, want none", got)
	}
}
