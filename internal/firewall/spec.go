package firewall

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"banger/internal/errdefs"
	"banger/internal/names"
)

// VM is one guest as the firewall sees it: its tap on the bridge and the
// addresses it may use.
type VM struct {
	Tap   string     // host tap of the VM, on the bridge
	IP    netip.Addr // its leased IPv4 address
	MAC   net.HardwareAddr
	NAT   bool   // may reach outside networks through masquerade
	Group string // VMs with the same non-empty group may talk to each other
}

// Spec is the whole of banger's rules: Apply makes the kernel match it.
type Spec struct {
	Bridge  string       // e.g. banger0
	Gateway netip.Prefix // bridge address with prefix, 10.77.0.1/24
	DNSPort uint16       // the one host port guests may reach (UDP and TCP) on Gateway's address
	VMs     []VM

	groups map[string]uint32 // group numbers chosen by an Applier; nil: by name order
}

// maxIfname is the longest Linux link name (IFNAMSIZ less the NUL).
const maxIfname = 15

// Validate checks a spec without touching the kernel: link names are valid,
// VM addresses are inside Gateway's prefix and not the gateway, no IP, tap
// or MAC is used twice and group names are DNS labels. It reports every
// problem at once as an InvalidArgument error.
func (s Spec) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if err := validLinkName(s.Bridge); err != nil {
		bad("bridge: %w", err)
	}
	gw := s.Gateway.Addr()
	subnet := s.Gateway.Masked()
	gwOK := false
	switch {
	case !s.Gateway.IsValid():
		bad("gateway: not set; give the bridge address with its prefix, e.g. 10.77.0.1/24")
	case !gw.Is4():
		bad("gateway %s: must be an IPv4 address with its prefix, e.g. 10.77.0.1/24", s.Gateway)
	case s.Gateway.Bits() < 8 || s.Gateway.Bits() > 30:
		bad("gateway %s: prefix length must be between 8 and 30", s.Gateway)
	case gw == subnet.Addr() || gw == broadcast(subnet):
		bad("gateway %s: is the network or broadcast address of its prefix", s.Gateway)
	default:
		gwOK = true
	}
	if s.DNSPort == 0 {
		bad("dns port: must be set (1-65535)")
	}
	taps := map[string]int{}
	ips := map[netip.Addr]int{}
	macs := map[string]int{}
	for i, vm := range s.VMs {
		field := fmt.Sprintf("vms[%d]", i)
		if err := validLinkName(vm.Tap); err != nil {
			bad("%s.tap: %w", field, err)
		} else if vm.Tap == s.Bridge {
			bad("%s.tap %q: is the bridge itself", field, vm.Tap)
		} else if j, dup := taps[vm.Tap]; dup {
			bad("%s.tap %q: already used by vms[%d]", field, vm.Tap, j)
		} else {
			taps[vm.Tap] = i
		}
		switch {
		case !vm.IP.IsValid() || !vm.IP.Is4():
			bad("%s.ip %q: must be an IPv4 address", field, vm.IP)
		case gwOK && !subnet.Contains(vm.IP):
			bad("%s.ip %s: outside the bridge network %s", field, vm.IP, subnet)
		case vm.IP == gw:
			bad("%s.ip %s: is the gateway's address", field, vm.IP)
		case gwOK && (vm.IP == subnet.Addr() || vm.IP == broadcast(subnet)):
			bad("%s.ip %s: is the network or broadcast address of %s", field, vm.IP, subnet)
		default:
			if j, dup := ips[vm.IP]; dup {
				bad("%s.ip %s: already used by vms[%d]", field, vm.IP, j)
			} else {
				ips[vm.IP] = i
			}
		}
		switch {
		case len(vm.MAC) != 6:
			bad("%s.mac %q: must be a 6-byte Ethernet address", field, vm.MAC)
		case vm.MAC[0]&1 != 0:
			bad("%s.mac %s: is a multicast address; use a unicast one", field, vm.MAC)
		case isZero(vm.MAC):
			bad("%s.mac %s: is the zero address", field, vm.MAC)
		default:
			if j, dup := macs[vm.MAC.String()]; dup {
				bad("%s.mac %s: already used by vms[%d]", field, vm.MAC, j)
			} else {
				macs[vm.MAC.String()] = i
			}
		}
		if vm.Group != "" {
			if err := names.ValidateAs("network group", vm.Group); err != nil {
				bad("%s.group: %w", field, err)
			}
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return errdefs.Wrap(errdefs.InvalidArgument, fmt.Errorf("invalid firewall spec: %w", errors.Join(errs...)))
}

// validLinkName accepts what Linux accepts as a link name, restricted to
// the characters banger and the usual tools produce.
func validLinkName(name string) error {
	switch {
	case name == "":
		return errors.New("link name is empty")
	case len(name) > maxIfname:
		return fmt.Errorf("link name %q is %d bytes long; the kernel allows at most %d", name, len(name), maxIfname)
	case name == "." || name == "..":
		return fmt.Errorf("link name %q is not allowed", name)
	}
	if i := strings.IndexFunc(name, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.')
	}); i >= 0 {
		return fmt.Errorf("link name %q has %q at byte %d; use letters, digits, '-', '_' and '.'", name, name[i], i+1)
	}
	return nil
}

// broadcast is the last address of an IPv4 prefix.
func broadcast(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3]) | host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
