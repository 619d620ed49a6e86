package network

import (
	"context"
	"fmt"
	"net/netip"

	"banger/internal/errdefs"
)

// Setup brings the host in line with the store at daemon start: it checks
// the subnet against the host's routes, makes the bridge, removes the taps
// of VMs that are not running, re-attaches the running ones, rebuilds the
// firewall and DNS records and starts the tap pool. running are the VMs
// whose VMMs were re-adopted; others are the ids of every other VM.
//
// An error means networking cannot work (a subnet clash, no bridge, no
// rules). Trouble that leaves it working (a tap that would not go, one VM
// that could not be re-attached, no spare taps) is logged instead.
func (s *Service) Setup(ctx context.Context, running []VM, others []string) error {
	routes, err := s.cfg.Links.RoutedPrefixes(s.cfg.Bridge)
	if err != nil {
		return fmt.Errorf("read the host's routes: %w", err)
	}
	if err := checkClash(s.cfg.Subnet, routes); err != nil {
		return err
	}
	if err := s.cfg.Links.EnsureBridge(s.cfg.Bridge, s.gateway); err != nil {
		return fmt.Errorf("make bridge %s: %w", s.cfg.Bridge, err)
	}
	fact, err := s.cfg.Store.HostFact(ctx, forwardingFact)
	if err != nil {
		return err
	}
	s.applyMu.Lock()
	s.fwdOwned = fact != ""
	s.applyMu.Unlock()

	for _, id := range others {
		if err := s.cfg.Links.DeleteLink(TapName(id)); err != nil {
			s.log.Warn("remove the tap of a VM that is not running", "tap", TapName(id), "err", err)
		}
	}
	for _, vm := range running {
		if _, err := s.Attach(ctx, vm); err != nil {
			s.log.Error("re-attach a running VM to the network", "vm", vm.Name, "err", err)
		}
	}
	s.mu.Lock()
	gen := s.changed()
	s.mu.Unlock()
	if err := s.sync(ctx, gen); err != nil {
		return err
	}
	if err := s.pool.start(); err != nil {
		s.log.Warn("start the tap pool; starts will make their taps", "err", err)
	}
	return nil
}

// checkClash refuses a subnet that overlaps a prefix the host already
// routes, naming a free one.
func checkClash(subnet netip.Prefix, routes []netip.Prefix) error {
	clash, ok := overlapping(subnet, routes)
	if !ok {
		return nil
	}
	msg := fmt.Sprintf("network.subnet %s overlaps the host's route to %s", subnet, clash)
	if free, ok := freeSubnet(subnet.Bits(), routes); ok {
		return errdefs.FailedPreconditionf("%s: set network.subnet = %q in the config file", msg, free)
	}
	return errdefs.FailedPreconditionf("%s and no private /%d is free: set network.subnet to a range the host does not use", msg, subnet.Bits())
}

func overlapping(p netip.Prefix, routes []netip.Prefix) (netip.Prefix, bool) {
	for _, r := range routes {
		if r.Bits() == 0 {
			continue // a default route overlaps everything and clashes with nothing
		}
		if r.Overlaps(p) {
			return r, true
		}
	}
	return netip.Prefix{}, false
}

// freeSubnet is the first private prefix of length bits that overlaps none
// of routes, searching 10.77-255.x, then 172.16-31.x, then 192.168.x.
func freeSubnet(bits int, routes []netip.Prefix) (netip.Prefix, bool) {
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
		if _, clash := overlapping(c.Masked(), routes); !clash {
			return c.Masked(), true
		}
	}
	return netip.Prefix{}, false
}

// Status is what doctor and system info show about networking.
type Status struct {
	Bridge      string
	Gateway     netip.Prefix
	Attached    int
	SparesReady int
	PoolHits    int
	PoolMisses  int
}

// Status reports the service's view of the network.
func (s *Service) Status() Status {
	s.mu.Lock()
	n := len(s.attached)
	s.mu.Unlock()
	ready, hits, misses := s.pool.stats()
	return Status{Bridge: s.cfg.Bridge, Gateway: s.gateway, Attached: n, SparesReady: ready, PoolHits: hits, PoolMisses: misses}
}
