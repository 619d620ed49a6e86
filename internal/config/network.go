package config

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"

	"banger/internal/subnet"
)

// Network is the host side of VM networking.
type Network struct {
	Enabled bool   `toml:"enabled"`  // false: VMs get no network device and banger touches no host networking
	Bridge  string `toml:"bridge"`   // the bridge every VM's tap is attached to
	Subnet  string `toml:"subnet"`   // IPv4 /24 (or larger) for VM addresses; the bridge takes the first
	NAT     bool   `toml:"nat"`      // default for new VMs: may reach outside networks
	TapPool int    `toml:"tap_pool"` // taps kept ready so starts do not wait for link creation
	// HelperSocket is the root helper's socket, used when bangerd does not
	// run as root.
	HelperSocket string `toml:"helper_socket"`
}

// DNS is banger's embedded DNS server.
type DNS struct {
	Domain    string   `toml:"domain"`    // VMs answer as <name>.<domain>
	Listen    string   `toml:"listen"`    // host-side listener, a loopback address:port; "" disables it
	Upstreams []string `toml:"upstreams"` // resolvers guests' other names go to; empty: the host's resolv.conf
	Resolved  bool     `toml:"resolved"`  // route the domain through systemd-resolved when it runs
}

// Network and DNS defaults and limits.
const (
	DefaultBridge    = "banger0"
	DefaultSubnet    = "10.77.0.0/24"
	DefaultTapPool   = 4
	MaxTapPool       = 64
	DefaultDomain    = "vm"
	DefaultDNSListen = "127.0.0.153:53"
	// DefaultHelperSocket is outside /run/banger, which belongs to the
	// daemon's user in a system install.
	DefaultHelperSocket = "/run/banger-helper/helper.sock"
)

func defaultNetwork() Network {
	return Network{Enabled: true, Bridge: DefaultBridge, Subnet: DefaultSubnet, NAT: true, TapPool: DefaultTapPool, HelperSocket: DefaultHelperSocket}
}

func defaultDNS() DNS {
	return DNS{Domain: DefaultDomain, Listen: DefaultDNSListen, Resolved: true}
}

// SubnetPrefix parses network.subnet; call it on a validated Config.
func (n Network) SubnetPrefix() netip.Prefix {
	p, _ := netip.ParsePrefix(n.Subnet)
	return p.Masked()
}

// BridgeNameReason says what is wrong with a bridge name, or "".
func BridgeNameReason(name string) string {
	if len(name) == 0 || len(name) > 15 {
		return "must be 1 to 15 characters (a Linux interface name)"
	}
	if name[0] < 'a' || name[0] > 'z' {
		return "must start with a lowercase letter"
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return "may hold only lowercase letters, digits, '-' and '_'"
		}
	}
	return ""
}

// SubnetReason says what is wrong with a VM subnet, or "". The rules are
// package subnet's, which the root helper applies too.
func SubnetReason(s string) string {
	p, err := netip.ParsePrefix(s)
	switch {
	case err != nil || !p.Addr().Is4():
		return `must be an IPv4 prefix such as "10.77.0.0/24"`
	case p.Masked() != p:
		return fmt.Sprintf("has host bits set: write %q", p.Masked().String())
	}
	return subnet.Problem(p)
}

func domainReason(d string) string {
	if d == "" || len(d) > 100 {
		return `must be a DNS domain such as "vm"`
	}
	for _, label := range strings.Split(d, ".") {
		if !validLabel(label) {
			return fmt.Sprintf("%q is not a DNS label (letters, digits and '-', not at the ends)", label)
		}
	}
	return ""
}

func validLabel(l string) bool {
	if len(l) == 0 || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
		return false
	}
	for _, r := range l {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

func listenReason(s string) string {
	if s == "" {
		return ""
	}
	ap, err := netip.ParseAddrPort(s)
	switch {
	case err != nil:
		return `must be address:port such as "127.0.0.153:53", or "" to serve no host listener`
	case !ap.Addr().IsLoopback():
		return "must be a loopback address: the host listener must not be reachable from other machines"
	}
	return ""
}

func upstreamsReason(list []string) string {
	for _, u := range list {
		if _, err := netip.ParseAddrPort(u); err != nil {
			return fmt.Sprintf("%q must be address:port such as \"192.0.2.53:53\"", u)
		}
	}
	return ""
}

func (c Config) networkProblems(check func(key string, value any, reason string)) {
	check("network.bridge", c.Network.Bridge, BridgeNameReason(c.Network.Bridge))
	check("network.subnet", c.Network.Subnet, SubnetReason(c.Network.Subnet))
	if c.Network.TapPool < 0 || c.Network.TapPool > MaxTapPool {
		check("network.tap_pool", c.Network.TapPool, fmt.Sprintf("must be between 0 and %d", MaxTapPool))
	}
	if !filepath.IsAbs(c.Network.HelperSocket) {
		check("network.helper_socket", c.Network.HelperSocket, "must be an absolute path")
	}
	check("dns.domain", c.DNS.Domain, domainReason(c.DNS.Domain))
	check("dns.listen", c.DNS.Listen, listenReason(c.DNS.Listen))
	check("dns.upstreams", c.DNS.Upstreams, upstreamsReason(c.DNS.Upstreams))
}
