package firewall

import (
	"net"
	"net/netip"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"banger/internal/netnstest"
)

// The lab's VMs: a and b share a group, a and c have NAT, x is a tap on
// the bridge that is not in the spec.
var (
	vmA = VM{Tap: "tapa", IP: netip.MustParseAddr("10.77.0.11"), MAC: mac(0x0b), NAT: true, Group: "red"}
	vmB = VM{Tap: "tapb", IP: netip.MustParseAddr("10.77.0.12"), MAC: mac(0x0c), Group: "red"}
	vmC = VM{Tap: "tapc", IP: netip.MustParseAddr("10.77.0.13"), MAC: mac(0x0d), NAT: true}
	vmX = VM{Tap: "tapx", IP: netip.MustParseAddr("10.77.0.14"), MAC: mac(0x0e), NAT: true}
)

func mac(last byte) net.HardwareAddr { return net.HardwareAddr{0x02, 0xba, 0, 0, 0, last} }

// probe is one thing a guest, the host or upstream tries; it returns the
// source address the far end saw, or "" when nothing arrived.
type probe struct {
	name          string
	run           func(l *lab) string
	before, after string // without banger's rules, and with them
}

func tcpProbe(from string, to string) func(l *lab) string {
	return func(l *lab) string { return dialTCP(l.ns(from), netip.Addr{}, to) }
}

func udpProbe(from string, src string, to string) func(l *lab) string {
	return func(l *lab) string {
		var a netip.Addr
		if src != "" {
			a = netip.MustParseAddr(src)
		}
		return l.sendUDP(l.ns(from), a, to)
	}
}

// ns is the namespace of a guest's tap, "upstream", or "host" (nil).
func (l *lab) ns(who string) *netnstest.NS {
	switch who {
	case "host":
		return nil
	case "upstream":
		return l.upstream
	}
	return l.guests[who].ns
}

var probes = []probe{
	{"NAT VM reaches upstream masqueraded", tcpProbe("tapa", upstreamTCP), "10.77.0.11", hostUpIP},
	{"VM without NAT does not reach upstream (TCP)", tcpProbe("tapb", upstreamTCP), "10.77.0.12", ""},
	{"VM without NAT does not reach upstream (UDP)", udpProbe("tapb", "", upstreamTCP), "10.77.0.12", ""},
	{"upstream does not reach a guest", tcpProbe("upstream", "10.77.0.11:22"), upstreamIP, ""},
	{"VMs in one group reach each other", tcpProbe("tapa", "10.77.0.12:22"), "10.77.0.11", "10.77.0.11"},
	{"VMs in one group reach each other, back", tcpProbe("tapb", "10.77.0.11:22"), "10.77.0.12", "10.77.0.12"},
	{"VM does not reach a VM outside its group", tcpProbe("tapa", "10.77.0.13:22"), "10.77.0.11", ""},
	{"VM without group reaches no VM", tcpProbe("tapc", "10.77.0.12:22"), "10.77.0.13", ""},
	{"VM reaches DNS over TCP", tcpProbe("tapb", "10.77.0.1:53"), "10.77.0.12", "10.77.0.12"},
	{"VM reaches DNS over UDP", udpProbe("tapc", "", "10.77.0.1:53"), "10.77.0.13", "10.77.0.13"},
	{"VM does not reach another port on the bridge address", tcpProbe("tapa", "10.77.0.1:8080"), "10.77.0.11", ""},
	{"VM does not reach the host's other address", tcpProbe("tapa", hostUpIP+":8080"), "10.77.0.11", ""},
	{"VM does not reach the DNS port on another host address", udpProbe("tapa", "", hostUpIP+":53"), "10.77.0.11", ""},
	{"host reaches a guest", tcpProbe("host", "10.77.0.12:22"), gatewayIP, gatewayIP},
	{"tap not in the spec reaches no DNS", udpProbe("tapx", "", "10.77.0.1:53"), "10.77.0.14", ""},
	{"tap not in the spec reaches no VM", tcpProbe("tapx", "10.77.0.11:22"), "10.77.0.14", ""},
	{"tap not in the spec reaches no upstream", tcpProbe("tapx", upstreamTCP), "10.77.0.14", ""},
}

// spoofProbes run while tapa also holds tapb's address and an unleased one.
var spoofProbes = []probe{
	{"VM spoofing a neighbour's IP reaches no DNS", udpProbe("tapa", "10.77.0.12", "10.77.0.1:53"), "10.77.0.12", ""},
	{"VM spoofing a neighbour's IP reaches no upstream", udpProbe("tapa", "10.77.0.12", upstreamTCP), "10.77.0.12", ""},
	{"VM spoofing an unleased IP reaches no DNS", udpProbe("tapa", "10.77.0.99", "10.77.0.1:53"), "10.77.0.99", ""},
	{"VM spoofing an unleased IP reaches no upstream", udpProbe("tapa", "10.77.0.99", upstreamTCP), "10.77.0.99", ""},
}

// run runs every probe and returns what each saw.
func (l *lab) run(ps []probe) map[string]string {
	got := map[string]string{}
	for _, p := range ps {
		got[p.name] = p.run(l)
	}
	l.withAddr(l.guests["tapa"], "10.77.0.12/32", func() {
		l.withAddr(l.guests["tapa"], "10.77.0.99/32", func() {
			for _, p := range spoofProbes {
				got[p.name] = p.run(l)
			}
		})
	})
	return got
}

func want(ps []probe, after bool) map[string]string {
	w := map[string]string{}
	for _, p := range append(append([]probe{}, ps...), spoofProbes...) {
		if after {
			w[p.name] = p.after
		} else {
			w[p.name] = p.before
		}
	}
	return w
}

// TestRules checks what guests can reach before and after Apply, with
// br_netfilter passing bridged frames through the inet hooks and without.
func TestRules(t *testing.T) {
	for _, brnf := range []string{"0", "1"} {
		t.Run("bridge-nf-call-iptables="+brnf, func(t *testing.T) {
			if !netnstest.Isolate(t) {
				return
			}
			l := newLab(t, vmA, vmB, vmC, vmX)
			const knob = "/proc/sys/net/bridge/bridge-nf-call-iptables"
			if err := os.WriteFile(knob, []byte(brnf), 0o644); err != nil {
				t.Skipf("needs br_netfilter to set %s: %v", knob, err)
			}
			// Without rules every probe gets through, so that each
			// "" below is the firewall's doing.
			if diff := cmp.Diff(want(probes, false), l.run(probes)); diff != "" {
				t.Fatalf("without rules (-want +got):\n%s", diff)
			}
			// The daemon's Applier: the first Apply makes the tables, the
			// next ones only refill their sets, so the probes below check
			// the cheap path too.
			var ap Applier
			if err := ap.Apply(specOf(vmA)); err != nil {
				t.Fatal(err)
			}
			if err := ap.Apply(specOf(vmA, vmB, vmC)); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want(probes, true), l.run(probes)); diff != "" {
				t.Errorf("with rules (-want +got):\n%s", diff)
			}

			// Re-Apply without c: its tap is now unknown, a keeps working.
			if err := ap.Apply(specOf(vmA, vmB)); err != nil {
				t.Fatal(err)
			}
			after := map[string]string{
				"c reaches DNS":      l.sendUDP(l.ns("tapc"), netip.Addr{}, "10.77.0.1:53"),
				"c reaches upstream": dialTCP(l.ns("tapc"), netip.Addr{}, upstreamTCP),
				"a reaches DNS":      l.sendUDP(l.ns("tapa"), netip.Addr{}, "10.77.0.1:53"),
			}
			if diff := cmp.Diff(map[string]string{"c reaches DNS": "", "c reaches upstream": "", "a reaches DNS": "10.77.0.11"}, after); diff != "" {
				t.Errorf("after re-Apply without c (-want +got):\n%s", diff)
			}

			// No VMs: empty tables, nothing filtered any more.
			if err := ap.Apply(specOf()); err != nil {
				t.Fatal(err)
			}
			if got := dialTCP(l.ns("tapa"), netip.Addr{}, "10.77.0.1:8080"); got != "10.77.0.11" {
				t.Errorf("after Apply with no VMs, guest to host port 8080 saw %q, want 10.77.0.11", got)
			}
		})
	}
}

// TestGuestCannotReachHostLoopback sends from a guest to the host's
// 127.0.0.1, on a host where the bridge accepts such packets
// (route_localnet, as kube-proxy sets it): only the rules stop them.
func TestGuestCannotReachHostLoopback(t *testing.T) {
	if !netnstest.Isolate(t) {
		return
	}
	l := newLab(t, vmA)
	l.listenUDP(nil, "127.0.0.1:5353")
	if err := os.WriteFile("/proc/sys/net/ipv4/conf/"+labBridge+"/route_localnet", []byte("1"), 0o644); err != nil {
		t.Fatal(err)
	}
	g := l.guests["tapa"]
	err := g.ns.Do(func() error {
		// Send 127.0.0.1 out of eth0 to the gateway instead of to lo.
		if err := os.WriteFile("/proc/sys/net/ipv4/conf/eth0/route_localnet", []byte("1"), 0o644); err != nil {
			return err
		}
		routes, err := netlink.RouteListFiltered(unix.AF_INET, &netlink.Route{Table: unix.RT_TABLE_LOCAL}, netlink.RT_FILTER_TABLE)
		if err != nil {
			return err
		}
		for _, r := range routes {
			if r.Dst != nil && r.Dst.IP.IsLoopback() {
				if err := netlink.RouteDel(&r); err != nil {
					return err
				}
			}
		}
		_, lo, _ := net.ParseCIDR("127.0.0.1/32")
		return netlink.RouteAdd(&netlink.Route{Dst: lo, Gw: net.ParseIP(gatewayIP)})
	})
	if err != nil {
		t.Fatal(err)
	}
	probe := func() string { return l.sendUDP(g.ns, netip.Addr{}, "127.0.0.1:5353") }
	if got := probe(); got != "10.77.0.11" {
		t.Fatalf("without rules the host's 127.0.0.1 saw %q, want 10.77.0.11: the probe does not work", got)
	}
	if err := Apply(specOf(vmA)); err != nil {
		t.Fatal(err)
	}
	if got := probe(); got != "" {
		t.Errorf("with rules the host's 127.0.0.1 saw a guest's packet from %q", got)
	}
}

// TestNoRoutingBackOntoBridge sends a guest's packets for a neighbour
// outside its group to the host's MAC, so that the host would route them
// back onto the bridge around the bridge table's forward chain.
func TestNoRoutingBackOntoBridge(t *testing.T) {
	if !netnstest.Isolate(t) {
		return
	}
	l := newLab(t, vmA, vmC)
	br, err := netlink.LinkByName(labBridge)
	if err != nil {
		t.Fatal(err)
	}
	err = l.guests["tapa"].ns.Do(func() error {
		eth, err := netlink.LinkByName("eth0")
		if err != nil {
			return err
		}
		return netlink.NeighSet(&netlink.Neigh{LinkIndex: eth.Attrs().Index, State: netlink.NUD_PERMANENT,
			IP: vmC.IP.AsSlice(), HardwareAddr: br.Attrs().HardwareAddr})
	})
	if err != nil {
		t.Fatal(err)
	}
	probe := func() string { return l.sendUDP(l.ns("tapa"), netip.Addr{}, "10.77.0.13:9") }
	l.listenUDP(l.ns("tapc"), "10.77.0.13:9")
	if got := probe(); got != "10.77.0.11" {
		t.Fatalf("without rules c saw %q through the host, want 10.77.0.11: the probe does not work", got)
	}
	if err := Apply(specOf(vmA, vmC)); err != nil {
		t.Fatal(err)
	}
	if got := probe(); got != "" {
		t.Errorf("with rules c saw a's packet routed through the host, from %q", got)
	}
}
