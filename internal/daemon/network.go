package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"strings"

	"banger/internal/api"
	"banger/internal/config"
	"banger/internal/dns"
	"banger/internal/doctor"
	"banger/internal/errdefs"
	"banger/internal/firewall"
	"banger/internal/network"
	"banger/internal/privileged"
	"banger/internal/store"
	"banger/internal/vm"
)

// guestDNSPort is the port guests ask the bridge address for names on.
const guestDNSPort = 53

// netStack is the daemon's networking: the network service over the
// netlink and nftables adapters, and the DNS server. It is nil when
// network.enabled is false.
type netStack struct {
	cfg  config.Config
	log  *slog.Logger
	host privileged.Host // in-process when root, else the root helper
	how  string          // which, for the log and doctor
	svc  *network.Service
	dns  *dns.Server
	lns  []dns.Listener
	wire *resolvedLink // nil unless the domain is routed through systemd-resolved

	// setupErr is why the host network could not be set up at start;
	// starts of networked VMs fail with it until the daemon restarts.
	setupErr error
	// dnsErr is why a DNS listener could not open; VMs work without it.
	dnsErr error
}

func newNetStack(cfg config.Config, st *store.Store, log *slog.Logger) (*netStack, error) {
	if !cfg.Network.Enabled {
		return nil, nil
	}
	srv, err := dns.NewServer(dns.Config{Domain: cfg.DNS.Domain, Logger: log.With("component", "dns")})
	if err != nil {
		return nil, errdefs.Wrap(errdefs.InvalidArgument, fmt.Errorf("dns: %w", err))
	}
	n := &netStack{cfg: cfg, log: log, dns: srv}
	if os.Geteuid() == 0 {
		n.host, n.how = privileged.NewLocal(), "in-process (bangerd runs as root)"
	} else {
		n.host, n.how = &privileged.Client{Socket: cfg.Network.HelperSocket}, "through the root helper at "+cfg.Network.HelperSocket
	}
	n.svc = network.New(network.Config{
		Relay:    relayer(n),
		Store:    st,
		Links:    n.host,
		Firewall: hostFirewall{n.host},
		Names:    srv,
		Logger:   log.With("component", "network"),
		Bridge:   cfg.Network.Bridge,
		Subnet:   cfg.Network.SubnetPrefix(),
		TapPool:  cfg.Network.TapPool,
		DNSPort:  guestDNSPort,
		UID:      os.Getuid(),
		GID:      os.Getgid(),
	})
	return n, nil
}

// start sets the host network up for the VMs in the store: VMs that may
// still be running keep their taps and rules (reconcile then detaches the
// ones whose VMM is gone), every other VM's tap is removed. Then the DNS
// listeners open. A failure is kept in setupErr and logged; the daemon
// still serves so that doctor and the API can say what is wrong.
func (n *netStack) start(ctx context.Context, st *store.Store) {
	vms, err := st.ListVMs(ctx)
	if err != nil {
		n.setupErr = err
		return
	}
	var live []network.VM
	var others []string
	for _, rec := range vms {
		switch vm.State(rec.State) {
		case vm.StateRunning, vm.StatePaused, vm.StateStarting, vm.StateStopping:
			live = append(live, network.VM{ID: rec.ID, Name: rec.Name, NAT: rec.NAT, Group: rec.NetGroup})
		default:
			others = append(others, rec.ID)
		}
	}
	if err := n.svc.Setup(ctx, live, others); err != nil {
		if _, helper := n.host.(*privileged.Client); helper && errdefs.Is(err, errdefs.Unavailable) {
			err = fmt.Errorf("%w: bangerd runs as uid %d and asks the root helper for host networking; start it: sudo bangerd --root-helper --allow-uid %d --bridge %s --socket %s (or set network.enabled = false)",
				err, os.Getuid(), os.Getuid(), n.cfg.Network.Bridge, n.cfg.Network.HelperSocket)
		}
		n.setupErr = err
		n.log.Error("set up the host network; networked VMs cannot start until this is fixed and bangerd restarted", "err", err, "host", n.how)
		return
	}
	n.dnsErr = n.listen(ctx)
	if n.dnsErr != nil {
		n.log.Error("serve DNS to guests; VMs work but resolve no names", "err", n.dnsErr)
	}
}

// listen opens the DNS listeners: one for the host on dns.listen that
// answers only the domain, one for guests on the bridge address that also
// forwards other names upstream.
func (n *netStack) listen(ctx context.Context) error {
	gw := n.svc.Gateway().Addr()
	guestAddr := netip.AddrPortFrom(gw, guestDNSPort).String()
	upstreams := n.cfg.DNS.Upstreams
	if len(upstreams) == 0 {
		ups, err := dns.UpstreamsFromResolvConf("/etc/resolv.conf", n.cfg.DNS.Listen, guestAddr)
		if err != nil {
			n.log.Warn("read the host's resolvers; guests can resolve only VM names", "err", err)
		}
		upstreams = ups
	}
	if err := n.dns.SetUpstreams(upstreams); err != nil {
		return err
	}
	var errs []error
	ln, err := n.dns.Listen(ctx, guestAddr, true)
	if err != nil {
		errs = append(errs, fmt.Errorf("serve DNS to guests on %s: %w%s", guestAddr, err, bindHint()))
	} else {
		n.lns = append(n.lns, ln)
	}
	if n.cfg.DNS.Listen != "" {
		ln, err := n.dns.Listen(ctx, n.cfg.DNS.Listen, false)
		if err != nil {
			// The host listener is a convenience: VMs still work without it.
			n.log.Warn("serve DNS to the host; set dns.listen to a free loopback address", "listen", n.cfg.DNS.Listen, "err", err)
		} else {
			n.lns = append(n.lns, ln)
		}
	}
	if n.cfg.DNS.Resolved {
		n.wire = wireResolved(ctx, n.log, n.host, n.cfg.Network.Bridge, gw, n.cfg.DNS.Domain)
	}
	n.log.Info("network ready", "bridge", n.cfg.Network.Bridge, "gateway", n.svc.Gateway().String(),
		"dns_host", n.cfg.DNS.Listen, "dns_guests", guestAddr, "upstreams", upstreams)
	return errors.Join(errs...)
}

// close stops the DNS server and the tap pool and undoes the
// systemd-resolved routing. Taps, rules and the bridge stay for the VMs
// that keep running.
func (n *netStack) close() {
	if n == nil {
		return
	}
	n.wire.revert()
	_ = n.dns.Close()
	n.svc.Close()
}

// vmNetwork adapts the network service to the vm service.
type vmNetwork struct{ n *netStack }

func (v vmNetwork) Lease(ctx context.Context, id string) error {
	_, err := v.n.svc.Lease(ctx, id)
	return err
}

func (v vmNetwork) Release(ctx context.Context, id string) error { return v.n.svc.Release(ctx, id) }

func (v vmNetwork) Attach(ctx context.Context, m vm.NetVM) (vm.NetAttachment, error) {
	if v.n.setupErr != nil {
		return vm.NetAttachment{}, errdefs.FailedPreconditionf("the host network is not set up (%v): fix it (banger doctor) and restart bangerd", v.n.setupErr)
	}
	a, err := v.n.svc.Attach(ctx, network.VM{ID: m.ID, Name: m.Name, NAT: m.NAT, Group: m.Group})
	if err != nil {
		return vm.NetAttachment{}, err
	}
	return vm.NetAttachment{Tap: a.Tap, MAC: a.MAC, Addr: a.Addr, Gateway: a.Gateway, DNS: a.DNS}, nil
}

func (v vmNetwork) Detach(ctx context.Context, id, name string) error {
	return v.n.svc.Detach(ctx, id, name)
}

// hostFirewall adapts the privileged host's rules to the network service.
type hostFirewall struct{ host privileged.Host }

func (f hostFirewall) Apply(r network.Rules) error {
	spec := firewall.Spec{Bridge: r.Bridge, Gateway: r.Gateway, DNSPort: r.DNSPort}
	for _, v := range r.VMs {
		spec.VMs = append(spec.VMs, firewall.VM{Tap: v.Tap, IP: v.IP, MAC: v.MAC, NAT: v.NAT, Group: v.Group})
	}
	return f.host.ApplyRules(spec)
}

// bindHint says how an unprivileged bangerd may bind the DNS port.
func bindHint() string {
	if os.Geteuid() == 0 {
		return ""
	}
	return " (port 53 needs CAP_NET_BIND_SERVICE: setcap cap_net_bind_service=+ep $(command -v bangerd), or AmbientCapabilities=CAP_NET_BIND_SERVICE in its systemd unit)"
}

// info reports the network's state for system info; nil without
// networking.
func (n *netStack) info(ctx context.Context) *api.NetworkInfo {
	if n == nil {
		return nil
	}
	if err := n.svc.Settle(ctx); err != nil {
		n.log.Warn("apply pending firewall changes", "err", err)
	}
	st := n.svc.Status()
	out := &api.NetworkInfo{
		Bridge: st.Bridge, Gateway: st.Gateway.String(), Attached: st.Attached,
		SparesReady: st.SparesReady, PoolHits: st.PoolHits, PoolMisses: st.PoolMisses,
		DNSDomain: n.cfg.DNS.Domain, DNSListeners: []string{},
	}
	for _, ln := range n.lns {
		out.DNSListeners = append(out.DNSListeners, ln.Addr())
	}
	if fw, err := n.host.ReadRules(); err == nil {
		out.FirewallPresent, out.FirewallRules, out.NATVMs = fw.Present, fw.Rules, fw.NATVMs
	}
	if n.setupErr != nil {
		out.Error = n.setupErr.Error()
	}
	return out
}

// doctorChecks are the network's rows in banger doctor.
func (n *netStack) doctorChecks(ctx context.Context) []doctor.Check {
	if n == nil {
		return nil
	}
	check := func(name, detail string, err error, fix string) doctor.Check {
		if err != nil {
			return doctor.Check{Name: name, Status: doctor.StatusFail, Detail: err.Error(), Fix: fix}
		}
		return doctor.Check{Name: name, Status: doctor.StatusPass, Detail: detail}
	}
	settleErr := n.svc.Settle(ctx)
	st := n.svc.Status()
	out := []doctor.Check{check("network",
		fmt.Sprintf("bridge %s %s, %d VMs attached, %d spare taps; host changes %s", st.Bridge, st.Gateway, st.Attached, st.SparesReady, n.how),
		n.setupErr, "fix what the error says (network.subnet, network.bridge in the config, or run bangerd as root), then restart bangerd")}
	fw, err := n.host.ReadRules()
	if err == nil && !fw.Present && n.setupErr == nil {
		err = errors.New("banger's nftables tables are missing (removed by hand or by another firewall tool)")
	}
	if err == nil {
		err = settleErr
	}
	out = append(out, check("firewall",
		fmt.Sprintf("nftables tables inet/bridge banger: %d chains, %d rules, %d VMs with NAT", fw.Chains, fw.Rules, fw.NATVMs),
		err, "restart bangerd: it rebuilds the tables from its state"))
	var lns []string
	for _, ln := range n.lns {
		lns = append(lns, ln.Addr())
	}
	dnsErr := n.dnsErr
	if dnsErr == nil && len(lns) == 0 && n.setupErr == nil {
		dnsErr = errors.New("no DNS listener is serving")
	}
	return append(out, check("dns", fmt.Sprintf(".%s on %s", n.cfg.DNS.Domain, strings.Join(lns, ", ")), dnsErr,
		"set dns.listen to a free loopback address:port and restart bangerd; docs/dns.md wires the host's resolver"))
}
