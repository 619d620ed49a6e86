// Package network decides how VMs are networked: the address and MAC each
// VM holds (leased in the store), the tap it uses on banger's bridge (taken
// from a warm pool), what the firewall must say about the VMs that are
// attached, when IP forwarding is needed, and which names the DNS server
// answers. It acts on the host only through the small interfaces it
// declares (Links, Firewall, Names), which the daemon wires to the netlink,
// firewall and dns adapters; it must not run commands or speak netlink
// itself.
package network

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"

	"banger/internal/store"
)

// Links does link work on the host.
type Links interface {
	EnsureBridge(name string, addr netip.Prefix) error
	CreateTap(name string, uid, gid int) error
	AttachTap(tap, bridge string) error
	RenameLink(from, to string) error
	DeleteLink(name string) error
	Links(prefix string) ([]string, error)
	DetachTap(tap string) error
	LinkExists(name string) (bool, error)
	RoutedPrefixes(exclude string) ([]netip.Prefix, error)
	Forwarding() (bool, error)
	SetForwarding(on bool) error
}

// RuleVM is one attached VM as the firewall sees it.
type RuleVM struct {
	Tap   string
	IP    netip.Addr
	MAC   net.HardwareAddr
	NAT   bool
	Group string
}

// Rules is the whole firewall state banger wants.
type Rules struct {
	Bridge  string
	Gateway netip.Prefix
	DNSPort uint16
	VMs     []RuleVM
}

// Firewall replaces banger's rules atomically.
type Firewall interface {
	Apply(Rules) error
}

// Names is the DNS server's record set.
type Names interface {
	Set(name string, ip netip.Addr) error
	Delete(name string)
}

// Config wires a Service.
type Config struct {
	Store    *store.Store
	Links    Links
	Firewall Firewall
	Names    Names   // may be nil: no DNS
	Relay    Relayer // may be nil: no port forwarding
	Logger   *slog.Logger

	Bridge  string
	Subnet  netip.Prefix // masked; the bridge takes the first address
	TapPool int
	DNSPort uint16
	UID     int // owner of the taps: the user the VMMs run as
	GID     int
}

// Service attaches and detaches VMs. It is safe for concurrent use.
type Service struct {
	cfg     Config
	log     *slog.Logger
	gateway netip.Prefix

	mu       sync.Mutex         // guards attached, relays and the generations
	gen      uint64             // bumped on every change to attached
	applied  uint64             // the generation the firewall reflects
	applyMu  sync.Mutex         // held while rules and forwarding are applied
	attached map[string]member  // by VM id
	relays   map[relayKey]Relay // running port forwards
	fwdOwned bool               // banger turned IP forwarding on; under applyMu

	pool pool

	// Rule updates after a detach run in the background: removing set
	// elements costs the kernel an RCU grace period, and a stopped VM's
	// entries let nothing through (its tap is gone, its address stays
	// leased to it).
	later     chan struct{}
	stopLater chan struct{}
	laterDone chan struct{}

	// A stopped VM's tap is removed in the background too: taking a link
	// off a bridge, setting it down or deleting it each wait for an RCU
	// grace period in the kernel. removing holds a channel per tap being
	// removed, closed when it is gone; under mu.
	removing map[string]chan struct{}
	bg       sync.WaitGroup
}

// member is one attached VM.
type member struct {
	name string
	rule RuleVM
}

// forwardingFact is the host fact recording that banger enabled IP
// forwarding and must turn it off again when no VM needs it.
const forwardingFact = "ip_forward_enabled_by_banger"

// New returns a Service. Call Setup before attaching VMs and Close when
// done.
func New(cfg Config) *Service {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	gw := netip.PrefixFrom(cfg.Subnet.Addr().Next(), cfg.Subnet.Bits())
	s := &Service{cfg: cfg, log: log, gateway: gw, attached: map[string]member{}, relays: map[relayKey]Relay{},
		removing: map[string]chan struct{}{}}
	s.pool = pool{links: cfg.Links, prefix: poolPrefix(cfg.Bridge), size: cfg.TapPool, uid: cfg.UID, gid: cfg.GID, log: log}
	s.later, s.stopLater, s.laterDone = make(chan struct{}, 1), make(chan struct{}), make(chan struct{})
	go s.syncLoop()
	return s
}

// syncLoop applies the changes Detach left for later.
func (s *Service) syncLoop() {
	defer close(s.laterDone)
	for {
		select {
		case <-s.stopLater:
			return
		case <-s.later:
			s.mu.Lock()
			gen := s.gen
			s.mu.Unlock()
			if err := s.sync(context.Background(), gen); err != nil {
				s.log.Error("update the firewall after VMs stopped", "err", err)
			}
		}
	}
}

// Settle applies every change made so far to the firewall and IP
// forwarding, and finishes the tap removals under way, before it returns.
func (s *Service) Settle(ctx context.Context) error {
	s.mu.Lock()
	gen := s.gen
	var pending []chan struct{}
	for _, done := range s.removing {
		pending = append(pending, done)
	}
	s.mu.Unlock()
	for _, done := range pending {
		select {
		case <-done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return s.sync(ctx, gen)
}

// Gateway is the bridge's address with the subnet's prefix length; guests
// route through it and ask it for names.
func (s *Service) Gateway() netip.Prefix { return s.gateway }

// Bridge is the bridge's name.
func (s *Service) Bridge() string { return s.cfg.Bridge }

// TapName is the tap of VM id: "bt-" and the first 12 characters of the id,
// 15 bytes, the longest Linux interface name.
func TapName(id string) string {
	if len(id) > 12 {
		id = id[:12]
	}
	return "bt-" + id
}

// MACFor derives a VM's MAC from its id: locally administered, unicast,
// stable for the VM's life.
func MACFor(id string) string {
	sum := sha256.Sum256([]byte(id))
	return net.HardwareAddr{0x0a, sum[0], sum[1], sum[2], sum[3], sum[4]}.String()
}

// poolPrefix names a bridge's spare taps: "bp", four characters of the
// bridge name's hash and "-", so that two banger bridges never take each
// other's spares.
func poolPrefix(bridge string) string {
	sum := sha256.Sum256([]byte(bridge))
	return "bp" + hex.EncodeToString(sum[:2]) + "-"
}

// Lease returns the address and MAC of VM id, leasing them on first use.
// A VM that holds a lease costs a read, not a write transaction.
func (s *Service) Lease(ctx context.Context, id string) (store.Lease, error) {
	if l, err := s.cfg.Store.GetLease(ctx, id); err == nil {
		return l, nil
	}
	return s.cfg.Store.AllocateLease(ctx, id, s.cfg.Subnet, s.gateway.Addr(), MACFor(id))
}

// Release gives up VM id's lease.
func (s *Service) Release(ctx context.Context, id string) error {
	return s.cfg.Store.ReleaseLease(ctx, id)
}

// VM is what attaching a VM needs to know of it.
type VM struct {
	ID    string
	Name  string
	NAT   bool
	Group string
}

// Attachment is how a started VM is wired: the VMM needs the tap and MAC,
// the guest the rest.
type Attachment struct {
	Tap     string
	MAC     string
	Addr    netip.Prefix // the guest's address with the subnet's length
	Gateway netip.Addr
	DNS     netip.Addr
}

// Attach gives VM vm its tap on the bridge, lets its traffic through the
// firewall and publishes its name. It is idempotent: attaching an attached
// VM re-checks its tap and rules.
func (s *Service) Attach(ctx context.Context, vm VM) (Attachment, error) {
	l, err := s.Lease(ctx, vm.ID)
	if err != nil {
		return Attachment{}, err
	}
	if !s.cfg.Subnet.Contains(l.IP) {
		// network.subnet changed since the VM last ran: it is starting,
		// so it takes an address of the new subnet.
		s.log.Info("VM's address is outside network.subnet; leasing a new one", "vm", vm.Name, "old", l.IP.String(), "subnet", s.cfg.Subnet.String())
		if err := s.Release(ctx, vm.ID); err != nil {
			return Attachment{}, err
		}
		if l, err = s.Lease(ctx, vm.ID); err != nil {
			return Attachment{}, err
		}
	}
	mac, err := net.ParseMAC(l.MAC)
	if err != nil {
		return Attachment{}, fmt.Errorf("lease of %s: %w", vm.Name, err)
	}
	tap := TapName(vm.ID)
	if err := s.waitRemoval(ctx, tap); err != nil {
		return Attachment{}, err
	}
	if err := s.ensureTap(tap); err != nil {
		return Attachment{}, err
	}
	if err := s.cfg.Links.AttachTap(tap, s.cfg.Bridge); err != nil {
		return Attachment{}, fmt.Errorf("attach %s to %s: %w", tap, s.cfg.Bridge, err)
	}
	s.mu.Lock()
	s.attached[vm.ID] = member{name: vm.Name, rule: RuleVM{Tap: tap, IP: l.IP, MAC: mac, NAT: vm.NAT, Group: vm.Group}}
	gen := s.changed()
	s.mu.Unlock()
	if err := s.sync(ctx, gen); err != nil {
		return Attachment{}, err
	}
	if ferr := s.restoreForwards(ctx, vm.ID, l.IP); ferr != nil {
		s.log.Warn("restore port forwards", "vm", vm.Name, "err", ferr)
	}
	if s.cfg.Names != nil {
		if err := s.cfg.Names.Set(vm.Name, l.IP); err != nil {
			return Attachment{}, fmt.Errorf("publish %s in DNS: %w", vm.Name, err)
		}
	}
	return Attachment{
		Tap:     tap,
		MAC:     l.MAC,
		Addr:    netip.PrefixFrom(l.IP, s.cfg.Subnet.Bits()),
		Gateway: s.gateway.Addr(),
		DNS:     s.gateway.Addr(),
	}, nil
}

// ensureTap makes sure tap exists, taking a spare from the pool when it
// can.
func (s *Service) ensureTap(tap string) error {
	ok, err := s.cfg.Links.LinkExists(tap)
	if err != nil {
		return err
	}
	if ok {
		return nil
	}
	if s.pool.take(tap) {
		return nil
	}
	if err := s.cfg.Links.CreateTap(tap, s.cfg.UID, s.cfg.GID); err != nil {
		return fmt.Errorf("create tap %s: %w", tap, err)
	}
	return nil
}

// Detach removes VM id's tap, rules and name. It is idempotent and works
// for a VM that was never attached by this daemon.
func (s *Service) Detach(ctx context.Context, id, name string) error {
	s.mu.Lock()
	_, was := s.attached[id]
	delete(s.attached, id)
	s.changed()
	s.mu.Unlock()
	err := s.dropForwards(ctx, id)
	if was {
		select {
		case s.later <- struct{}{}:
		default: // an update is already due; it will see this change
		}
	}
	if s.cfg.Names != nil && name != "" {
		s.cfg.Names.Delete(name)
	}
	s.removeTapLater(TapName(id))
	return err
}

// removeTapLater releases tap in the background. A restarted daemon
// removes the taps of VMs that are not running, so a removal cut short by
// a crash is finished at the next start.
func (s *Service) removeTapLater(tap string) {
	s.mu.Lock()
	if _, busy := s.removing[tap]; busy {
		s.mu.Unlock()
		return
	}
	done := make(chan struct{})
	s.removing[tap] = done
	s.mu.Unlock()
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		if err := s.releaseTap(tap); err != nil {
			s.log.Warn("remove a stopped VM's tap", "tap", tap, "err", err)
		}
		s.mu.Lock()
		delete(s.removing, tap)
		s.mu.Unlock()
		close(done)
	}()
}

// waitRemoval waits until a removal of tap under way, if any, is done, so
// that a VM started right after it stopped does not lose its new tap.
func (s *Service) waitRemoval(ctx context.Context, tap string) error {
	s.mu.Lock()
	done := s.removing[tap]
	s.mu.Unlock()
	if done == nil {
		return nil
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// releaseTap hands a stopped VM's tap back to the pool when the pool has
// room (deleting a link costs the kernel tens of milliseconds), else
// deletes it. A missing tap is fine.
func (s *Service) releaseTap(tap string) error {
	ok, err := s.cfg.Links.LinkExists(tap)
	if err != nil || !ok {
		return err
	}
	if s.pool.give(tap) {
		return nil
	}
	return s.cfg.Links.DeleteLink(tap)
}

// changed records a change to the attached VMs and returns its
// generation. s.mu must be held.
func (s *Service) changed() uint64 {
	s.gen++
	return s.gen
}

// sync makes the firewall and IP forwarding reflect at least generation
// gen of the attached VMs. Concurrent callers share one apply: whoever
// applies takes a snapshot with every change made so far, and callers
// whose change it covered return without applying again, so a hundred
// VMs starting at once cost a few rule updates, not a hundred.
func (s *Service) sync(ctx context.Context, gen uint64) error {
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	s.mu.Lock()
	if s.applied >= gen {
		s.mu.Unlock()
		return nil
	}
	rules, needForwarding := s.rulesLocked()
	snap := s.gen
	s.mu.Unlock()
	if err := s.cfg.Firewall.Apply(rules); err != nil {
		return fmt.Errorf("apply firewall rules: %w", err)
	}
	if err := s.setForwarding(ctx, needForwarding); err != nil {
		return err
	}
	s.mu.Lock()
	s.applied = max(s.applied, snap)
	s.mu.Unlock()
	return nil
}

// rulesLocked is the firewall state for the attached VMs and whether any
// of them needs IP forwarding. s.mu must be held.
func (s *Service) rulesLocked() (Rules, bool) {
	r := Rules{Bridge: s.cfg.Bridge, Gateway: s.gateway, DNSPort: s.cfg.DNSPort}
	need := false
	for _, m := range s.attached {
		r.VMs = append(r.VMs, m.rule)
		need = need || m.rule.NAT
	}
	sortRuleVMs(r.VMs)
	return r, need
}

// setForwarding turns IPv4 forwarding on when a VM needs it, and off again
// when none does and banger was the one that turned it on. s.applyMu must
// be held.
func (s *Service) setForwarding(ctx context.Context, need bool) error {
	on, err := s.cfg.Links.Forwarding()
	if err != nil {
		return err
	}
	switch {
	case need && !on:
		if err := s.cfg.Store.SetHostFact(ctx, forwardingFact, "1"); err != nil {
			return err
		}
		if err := s.cfg.Links.SetForwarding(true); err != nil {
			return fmt.Errorf("enable IPv4 forwarding for NAT: %w", err)
		}
		s.fwdOwned = true
	case !need && on && s.fwdOwned:
		if err := s.cfg.Links.SetForwarding(false); err != nil {
			return fmt.Errorf("disable IPv4 forwarding: %w", err)
		}
		s.fwdOwned = false
		return s.cfg.Store.SetHostFact(ctx, forwardingFact, "")
	}
	return nil
}

// Close stops the pool filler. Taps, rules and the bridge stay: running VMs
// keep their network across daemon restarts.
func (s *Service) Close() {
	close(s.stopLater)
	<-s.laterDone
	s.bg.Wait()
	if err := s.Settle(context.Background()); err != nil {
		s.log.Error("update the firewall before exiting", "err", err)
	}
	s.pool.close()
}

// sortRuleVMs orders VMs by tap so equal states give equal rule sets.
func sortRuleVMs(vms []RuleVM) {
	slices.SortFunc(vms, func(a, b RuleVM) int { return strings.Compare(a.Tap, b.Tap) })
}
