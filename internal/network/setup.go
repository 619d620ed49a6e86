package network

import (
	"context"
	"fmt"
	"net/netip"

	"banger/internal/errdefs"
	"banger/internal/subnet"
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
func checkClash(sub netip.Prefix, routes []netip.Prefix) error {
	clash, ok := subnet.Clash(sub, routes)
	if !ok {
		return nil
	}
	msg := fmt.Sprintf("network.subnet %s overlaps the host's route to %s", sub, clash)
	if free, ok := subnet.Free(sub.Bits(), routes); ok {
		return errdefs.FailedPreconditionf("%s: set network.subnet = %q in the config file", msg, free)
	}
	return errdefs.FailedPreconditionf("%s and no private /%d is free: set network.subnet to a range the host does not use", msg, sub.Bits())
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
