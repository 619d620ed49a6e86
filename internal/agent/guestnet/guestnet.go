// Package guestnet configures a guest's network from what banger put on
// its kernel command line (banger.ip, banger.gw, banger.dns): the address
// of its one network interface, the default route and the resolver. It
// runs inside the guest, in the agent; it must not depend on anything of
// the host side.
package guestnet

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	vnl "github.com/vishvananda/netlink"
)

// Config is a guest's network settings.
type Config struct {
	Addr    netip.Prefix // the guest's address and prefix length
	Gateway netip.Addr   // default route
	DNS     netip.Addr   // resolver
}

// FromCmdline reads the settings from a kernel command line. ok is false
// when banger set none (the VM has no network).
func FromCmdline(cmdline string) (cfg Config, ok bool, err error) {
	for _, f := range strings.Fields(cmdline) {
		key, val, _ := strings.Cut(f, "=")
		switch key {
		case "banger.ip":
			ok = true
			if cfg.Addr, err = netip.ParsePrefix(val); err != nil || !cfg.Addr.Addr().Is4() {
				return Config{}, true, fmt.Errorf("banger.ip=%q: want an IPv4 address with prefix length", val)
			}
		case "banger.gw":
			if cfg.Gateway, err = netip.ParseAddr(val); err != nil || !cfg.Gateway.Is4() {
				return Config{}, true, fmt.Errorf("banger.gw=%q: want an IPv4 address", val)
			}
		case "banger.dns":
			if cfg.DNS, err = netip.ParseAddr(val); err != nil {
				return Config{}, true, fmt.Errorf("banger.dns=%q: want an IP address", val)
			}
		}
	}
	if ok && cfg.Gateway.IsValid() && !cfg.Addr.Contains(cfg.Gateway) {
		return Config{}, true, fmt.Errorf("gateway %s is outside %s", cfg.Gateway, cfg.Addr.Masked())
	}
	return cfg, ok, nil
}

// Apply brings lo and the guest's interface up with cfg's address, sets the
// default route and writes resolvConf. It is idempotent.
func Apply(cfg Config, resolvConf string) error {
	if lo, err := vnl.LinkByName("lo"); err == nil {
		_ = vnl.LinkSetUp(lo)
	}
	link, err := guestLink()
	if err != nil {
		return err
	}
	name := link.Attrs().Name
	addr := &vnl.Addr{IPNet: prefixNet(cfg.Addr)}
	if err := vnl.AddrReplace(link, addr); err != nil {
		return fmt.Errorf("set %s on %s: %w", cfg.Addr, name, err)
	}
	if err := vnl.LinkSetUp(link); err != nil {
		return fmt.Errorf("set %s up: %w", name, err)
	}
	if cfg.Gateway.IsValid() {
		route := &vnl.Route{LinkIndex: link.Attrs().Index, Gw: cfg.Gateway.AsSlice()}
		if err := vnl.RouteReplace(route); err != nil {
			return fmt.Errorf("default route via %s: %w", cfg.Gateway, err)
		}
	}
	if cfg.DNS.IsValid() && resolvConf != "" {
		return writeResolvConf(resolvConf, cfg.DNS)
	}
	return nil
}

// Reconfigure moves the guest's interface to a new identity: a guest
// restored from a snapshot still has the saved machine's MAC and address.
// The link goes down, takes mac (when given) and loses its IPv4
// addresses, comes up with cfg's address, and the default route and
// resolver are set as Apply sets them.
func Reconfigure(cfg Config, mac net.HardwareAddr, resolvConf string) error {
	link, err := guestLink()
	if err != nil {
		return err
	}
	name := link.Attrs().Name
	if err := vnl.LinkSetDown(link); err != nil {
		return fmt.Errorf("set %s down: %w", name, err)
	}
	if len(mac) > 0 {
		if err := vnl.LinkSetHardwareAddr(link, mac); err != nil {
			return fmt.Errorf("set the MAC of %s to %s: %w", name, mac, err)
		}
	}
	addrs, err := vnl.AddrList(link, vnl.FAMILY_V4)
	if err != nil {
		return fmt.Errorf("list the addresses of %s: %w", name, err)
	}
	for _, a := range addrs {
		if err := vnl.AddrDel(link, &a); err != nil {
			return fmt.Errorf("remove %s from %s: %w", a.IPNet, name, err)
		}
	}
	return Apply(cfg, resolvConf)
}

// guestLink is the interface banger's NIC appears as: eth0 when present,
// else the first non-loopback link with a MAC address.
func guestLink() (vnl.Link, error) {
	if l, err := vnl.LinkByName("eth0"); err == nil {
		return l, nil
	}
	links, err := vnl.LinkList()
	if err != nil {
		return nil, fmt.Errorf("list links: %w", err)
	}
	for _, l := range links {
		a := l.Attrs()
		if a.Name != "lo" && len(a.HardwareAddr) == 6 {
			return l, nil
		}
	}
	return nil, errors.New("no network interface: the VM has no virtio-net device (is CONFIG_VIRTIO_NET in the kernel?)")
}

func prefixNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), 32)}
}

// writeResolvConf replaces path (a file or a symlink to one) with a
// resolv.conf naming dns.
func writeResolvConf(path string, dns netip.Addr) error {
	data := "# written by banger-agent from the kernel command line\nnameserver " + dns.String() + "\n"
	tmp, err := os.CreateTemp(filepath.Dir(path), ".resolv.conf.")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
