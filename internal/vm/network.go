package vm

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"banger/internal/store"
	"banger/internal/vmm"
)

// Network wires VMs to the host network. Every method is idempotent: a
// restarted daemon repeats or undoes them without knowing how far an
// interrupted plan got.
type Network interface {
	// Lease records the VM's address and MAC; they live as long as the VM.
	Lease(ctx context.Context, id string) error
	// Release gives the lease up.
	Release(ctx context.Context, id string) error
	// Attach gives a starting VM its tap, rules and name.
	Attach(ctx context.Context, vm NetVM) (NetAttachment, error)
	// Detach removes what Attach made.
	Detach(ctx context.Context, id, name string) error
}

// NetVM is what attaching a VM needs to know of it.
type NetVM struct {
	ID    string
	Name  string
	NAT   bool
	Group string
}

// NetAttachment is how a started VM is wired.
type NetAttachment struct {
	Tap     string
	MAC     string
	Addr    netip.Prefix // the guest's address and prefix length
	Gateway netip.Addr
	DNS     netip.Addr
}

// guestNetArgs are the kernel command line parameters from which the guest
// agent configures the guest's network at boot: address, default route
// and resolver.
func guestNetArgs(a NetAttachment) string {
	return strings.Join([]string{
		"banger.ip=" + a.Addr.String(),
		"banger.gw=" + a.Gateway.String(),
		"banger.dns=" + a.DNS.String(),
	}, " ")
}

// Apply puts the attachment into spec: the tap and MAC of the VM's network
// device, and the guest's network settings appended to its kernel command
// line.
func (a NetAttachment) Apply(spec *vmm.Spec) {
	spec.Tap, spec.MAC = a.Tap, a.MAC
	spec.BootArgs = strings.TrimSpace(spec.BootArgs + " " + guestNetArgs(a))
}

func netVM(rec store.VM) NetVM {
	return NetVM{ID: rec.ID, Name: rec.Name, NAT: rec.NAT, Group: rec.NetGroup}
}

// leaseStep records the new VM's address lease.
func (s *Service) leaseStep(rec *store.VM) step {
	return step{
		name: "lease-address",
		do: func(ctx context.Context) error {
			if err := s.net.Lease(ctx, rec.ID); err != nil {
				return fmt.Errorf("lease an address for %s: %w", rec.Name, err)
			}
			return nil
		},
		undo: func(ctx context.Context) error { return s.net.Release(ctx, rec.ID) },
	}
}

// attachStep wires a starting VM to the network and puts the tap and the
// guest's network settings into its VMM spec. Without a Network it does
// nothing: the VM gets no network device.
func (s *Service) attachStep(rec *store.VM, spec *vmm.Spec) step {
	return s.attachStepInto(rec, spec, nil)
}

// attachStepInto is attachStep that also keeps the attachment in *out
// when out is not nil.
func (s *Service) attachStepInto(rec *store.VM, spec *vmm.Spec, out *NetAttachment) step {
	return step{
		name: "attach-network",
		do: func(ctx context.Context) error {
			if s.net == nil {
				return nil
			}
			a, err := s.net.Attach(ctx, netVM(*rec))
			if err != nil {
				return fmt.Errorf("attach %s to the network: %w", rec.Name, err)
			}
			a.Apply(spec)
			if out != nil {
				*out = a
			}
			return nil
		},
		undo: func(ctx context.Context) error { return s.detach(ctx, *rec) },
	}
}

// detach releases the VM's tap, rules and name.
func (s *Service) detach(ctx context.Context, rec store.VM) error {
	if s.net == nil {
		return nil
	}
	return s.net.Detach(ctx, rec.ID, rec.Name)
}

// Ports lists the TCP ports the guest of a running VM listens on, with the
// endpoint the host reaches each at.
func (s *Service) Ports(ctx context.Context, ref string) ([]Port, error) {
	rec, err := s.store.GetVM(ctx, ref)
	if err != nil {
		return nil, err
	}
	ag, _, err := s.agentFor(ctx, rec)
	if err != nil {
		return nil, err
	}
	ps, err := ag.Ports(ctx)
	if err != nil {
		return nil, fmt.Errorf("ask the guest agent of %s for its ports: %w", rec.Name, err)
	}
	host := ""
	if l, err := s.store.GetLease(ctx, rec.ID); err == nil {
		host = l.IP.String()
		if s.defaults.Domain != "" {
			host = rec.Name + "." + s.defaults.Domain
		}
	}
	out := make([]Port, 0, len(ps))
	seen := map[int]bool{}
	for _, p := range ps {
		ap := Port{Port: int(p.Port), Address: p.Address, Proto: p.Proto}
		if a, err := netip.ParseAddr(p.Address); err == nil && !a.IsLoopback() && host != "" {
			ap.Endpoint = net.JoinHostPort(host, strconv.Itoa(ap.Port))
		}
		key := ap.Port<<1 | boolInt(ap.Endpoint != "")
		if seen[key] {
			continue // the same port on 0.0.0.0 and ::
		}
		seen[key] = true
		out = append(out, ap)
	}
	slices.SortFunc(out, func(a, b Port) int { return a.Port - b.Port })
	return out, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
