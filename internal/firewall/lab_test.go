package firewall

import (
	"bufio"
	"errors"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"banger/internal/netnstest"
)

// probeTimeout bounds one probe; everything here is on veths, so a
// connection that is allowed completes in well under a millisecond.
const probeTimeout = 400 * time.Millisecond

// lab is a bridge with guests and an upstream network, built in the
// namespace Isolate made (which plays the host).
//
//	guest namespaces --veth--> tapX (on banger0 10.77.0.1/24)
//	upstream 198.51.100.2 --veth-- up0 198.51.100.1 (host)
type lab struct {
	t        *testing.T
	guests   map[string]*guest
	upstream *netnstest.NS
	udp      *udpServer // every UDP listener records what it receives here
}

type guest struct {
	ns *netnstest.NS
	vm VM
}

const (
	labBridge   = "banger0"
	upstreamIP  = "198.51.100.2"
	hostUpIP    = "198.51.100.1"
	gatewayIP   = "10.77.0.1"
	labDNSPort  = 53
	closedPort  = 8080 // a host service guests must not reach
	upstreamTCP = "198.51.100.2:80"
)

func newLab(t *testing.T, guests ...VM) *lab {
	t.Helper()
	l := &lab{t: t, guests: map[string]*guest{}, udp: &udpServer{seen: map[string]string{}}}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(netlink.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: labBridge}}))
	must(netnstest.AddrAdd(labBridge, gatewayIP+"/24"))
	must(os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0o644))
	br, err := netlink.LinkByName(labBridge)
	must(err)
	for _, vm := range guests {
		g := &guest{ns: netnstest.New(t), vm: vm}
		must(netnstest.Veth(vm.Tap, "eth0", g.ns))
		tap, err := netlink.LinkByName(vm.Tap)
		must(err)
		must(netlink.LinkSetMaster(tap, br))
		must(netlink.LinkSetUp(tap))
		must(g.ns.Do(func() error {
			eth, err := netlink.LinkByName("eth0")
			if err != nil {
				return err
			}
			if err := netlink.LinkSetHardwareAddr(eth, vm.MAC); err != nil {
				return err
			}
			if err := netnstest.AddrAdd("eth0", vm.IP.String()+"/24"); err != nil {
				return err
			}
			return netlink.RouteAdd(&netlink.Route{Gw: net.ParseIP(gatewayIP)})
		}))
		l.guests[vm.Tap] = g
	}

	// Upstream routes back to the bridge network, so that only the
	// firewall (not a missing route) keeps a guest without NAT out.
	l.upstream = netnstest.New(t)
	must(netnstest.Veth("up0", "eth0", l.upstream))
	must(netnstest.AddrAdd("up0", hostUpIP+"/24"))
	must(l.upstream.Do(func() error {
		if err := netnstest.AddrAdd("eth0", upstreamIP+"/24"); err != nil {
			return err
		}
		_, subnet, _ := net.ParseCIDR("10.77.0.0/24")
		return netlink.RouteAdd(&netlink.Route{Dst: subnet, Gw: net.ParseIP(hostUpIP)})
	}))

	// Host services: DNS on the gateway, and services on the port guests
	// must not reach on every host address.
	l.listenTCP(nil, net.JoinHostPort(gatewayIP, "53"))
	l.listenUDP(nil, net.JoinHostPort(gatewayIP, "53"))
	l.listenUDP(nil, net.JoinHostPort(hostUpIP, "53"))
	for _, ip := range []string{"127.0.0.1", gatewayIP, hostUpIP} {
		l.listenTCP(nil, net.JoinHostPort(ip, "8080"))
	}
	l.listenTCP(l.upstream, upstreamTCP)
	l.listenUDP(l.upstream, upstreamTCP)
	for _, g := range l.guests {
		l.listenTCP(g.ns, "0.0.0.0:22")
	}
	l.settle()
	return l
}

// settle waits until every path the probes use has worked once: the first
// packets on fresh links can be lost (ports coming up, neighbours being
// resolved), which would read as "blocked" with probeTimeout.
func (l *lab) settle() {
	l.t.Helper()
	try := func(ns *netnstest.NS, addr string) {
		deadline := time.Now().Add(5 * time.Second)
		for dialTCP(ns, netip.Addr{}, addr) == "" {
			if time.Now().After(deadline) {
				l.t.Fatalf("lab not ready: no TCP connection to %s", addr)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	try(nil, upstreamTCP)
	for _, g := range l.guests {
		try(g.ns, net.JoinHostPort(gatewayIP, "53"))
		try(nil, net.JoinHostPort(g.vm.IP.String(), "22"))
	}
}

// in runs fn in ns, or in the host namespace when ns is nil.
func in(ns *netnstest.NS, fn func() error) error {
	if ns == nil {
		return fn()
	}
	return ns.Do(fn)
}

// listenTCP serves addr in ns: each connection is told the address it
// came from, then closed. The server stops when the test ends.
func (l *lab) listenTCP(ns *netnstest.NS, addr string) {
	l.t.Helper()
	var ln net.Listener
	if err := in(ns, func() (err error) { ln, err = net.Listen("tcp", addr); return err }); err != nil {
		l.t.Fatalf("listen on %s: %v", addr, err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			host, _, _ := net.SplitHostPort(c.RemoteAddr().String())
			_, _ = c.Write([]byte(host + "\n"))
			_ = c.Close()
		}
	}()
	l.t.Cleanup(func() { _ = ln.Close(); wg.Wait() })
}

// dialTCP connects from ns (bound to from, if valid) to addr and returns
// the source address the server saw, or "" if the connection failed.
func dialTCP(ns *netnstest.NS, from netip.Addr, addr string) string {
	var seen string
	_ = in(ns, func() error {
		d := net.Dialer{Timeout: probeTimeout}
		if from.IsValid() {
			d.LocalAddr = &net.TCPAddr{IP: from.AsSlice()}
		}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			return err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(probeTimeout))
		line, err := bufio.NewReader(c).ReadString('\n')
		seen = strings.TrimSpace(line)
		return err
	})
	return seen
}

// udpServer records, per payload, the source address a UDP listener saw.
type udpServer struct {
	mu   sync.Mutex
	seen map[string]string
}

func (l *lab) listenUDP(ns *netnstest.NS, addr string) {
	l.t.Helper()
	var pc net.PacketConn
	if err := in(ns, func() (err error) { pc, err = net.ListenPacket("udp", addr); return err }); err != nil {
		l.t.Fatalf("listen on udp %s: %v", addr, err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]byte, 512)
		for {
			n, src, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			host, _, _ := net.SplitHostPort(src.String())
			l.udp.mu.Lock()
			l.udp.seen[string(buf[:n])] = host
			l.udp.mu.Unlock()
		}
	}()
	l.t.Cleanup(func() { _ = pc.Close(); wg.Wait() })
}

var probeSeq struct {
	sync.Mutex
	n int
}

// sendUDP sends a few datagrams from ns (from from, if valid) to addr and
// returns the source address the listener saw, or "" if none arrived.
func (l *lab) sendUDP(ns *netnstest.NS, from netip.Addr, addr string) string {
	probeSeq.Lock()
	probeSeq.n++
	token := "probe-" + itoa(probeSeq.n)
	probeSeq.Unlock()
	err := in(ns, func() error {
		var laddr *net.UDPAddr
		if from.IsValid() {
			laddr = &net.UDPAddr{IP: from.AsSlice()}
		}
		raddr, err := net.ResolveUDPAddr("udp", addr)
		if err != nil {
			return err
		}
		c, err := net.DialUDP("udp", laddr, raddr)
		if err != nil {
			return err
		}
		defer c.Close()
		for range 3 {
			if _, err := c.Write([]byte(token)); err != nil && !errors.Is(err, net.ErrClosed) {
				return nil // e.g. ECONNREFUSED from an earlier ICMP error
			}
		}
		return nil
	})
	if err != nil {
		l.t.Fatalf("send udp to %s: %v", addr, err)
	}
	deadline := time.Now().Add(probeTimeout)
	for time.Now().Before(deadline) {
		l.udp.mu.Lock()
		src := l.udp.seen[token]
		l.udp.mu.Unlock()
		if src != "" {
			return src
		}
		time.Sleep(5 * time.Millisecond)
	}
	return ""
}

// withAddr adds a secondary address to a guest's eth0 for the length of
// fn, so that the guest can send from another VM's address.
func (l *lab) withAddr(g *guest, cidr string, fn func()) {
	l.t.Helper()
	a, err := netlink.ParseAddr(cidr)
	if err != nil {
		l.t.Fatal(err)
	}
	change := func(add bool) error {
		return g.ns.Do(func() error {
			eth, err := netlink.LinkByName("eth0")
			if err != nil {
				return err
			}
			if add {
				return netlink.AddrAdd(eth, a)
			}
			return netlink.AddrDel(eth, a)
		})
	}
	if err := change(true); err != nil {
		l.t.Fatal(err)
	}
	defer func() {
		if err := change(false); err != nil {
			l.t.Error(err)
		}
	}()
	fn()
}
