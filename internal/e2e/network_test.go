package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
	vnl "github.com/vishvananda/netlink"

	"banger/internal/api"
	"banger/internal/netnstest"
)

// The "upstream" network: a namespace joined to the world's namespace by a
// veth pair, with addresses from TEST-NET-2. It stands for the internet: an
// HTTP server and a DNS server live there, and the world's namespace routes
// everything it does not know through it.
const (
	hostUpstreamAddr = "198.51.100.1" // the world's side: the host's "other address"
	upstreamAddr     = "198.51.100.2"
	upstreamName     = "upstream.test"
	guestHTTPPort    = 8000
	hostOnlyPort     = 8081 // a host service guests must not reach
)

// upstream makes the upstream namespace for w and starts its servers; it
// returns the host-side listener guests must not reach.
func upstream(t *testing.T, w *world) {
	t.Helper()
	up := netnstest.New(t)
	home := netnstest.Open(t, w.netns)
	err := home.Do(func() error {
		if err := netnstest.Veth("up0", "up1", up); err != nil {
			return err
		}
		if err := netnstest.AddrAdd("up0", hostUpstreamAddr+"/24"); err != nil {
			return err
		}
		gw := net.ParseIP(upstreamAddr)
		return vnl.RouteAdd(&vnl.Route{Gw: gw})
	})
	if err != nil {
		t.Fatalf("join the upstream network: %v", err)
	}
	var httpLn, dnsLn, greetLn net.Listener
	var dnsPC net.PacketConn
	err = up.Do(func() error {
		if err := netnstest.AddrAdd("up1", upstreamAddr+"/24"); err != nil {
			return err
		}
		var err error
		if httpLn, err = net.Listen("tcp", upstreamAddr+":80"); err != nil {
			return err
		}
		if dnsLn, err = net.Listen("tcp", upstreamAddr+":53"); err != nil {
			return err
		}
		if greetLn, err = net.Listen("tcp", fmt.Sprintf("%s:%d", upstreamAddr, hostOnlyPort)); err != nil {
			return err
		}
		dnsPC, err = net.ListenPacket("udp", upstreamAddr+":53")
		return err
	})
	if err != nil {
		t.Fatalf("start the upstream servers: %v", err)
	}
	hs := &http.Server{Handler: http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(rw, "upstream saw %s\n", r.RemoteAddr)
	})}
	go func() { _ = hs.Serve(httpLn) }()
	t.Cleanup(func() { hs.Close() })
	answer := dns.HandlerFunc(func(rw dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		if len(q.Question) == 1 && q.Question[0].Name == upstreamName+"." && q.Question[0].Qtype == dns.TypeA {
			rr, _ := dns.NewRR(upstreamName + ". 60 IN A " + upstreamAddr)
			m.Answer = append(m.Answer, rr)
		} else {
			m.Rcode = dns.RcodeNameError
		}
		_ = rw.WriteMsg(m)
	})
	for _, srv := range []*dns.Server{{Listener: dnsLn, Handler: answer}, {PacketConn: dnsPC, Handler: answer}} {
		go func() { _ = srv.ActivateAndServe() }()
		t.Cleanup(func() { _ = srv.Shutdown() })
	}
	// The same port upstream greets: the control for the host's service.
	greet(t, greetLn, "upstream greets\n")
	// A service on the host's other addresses that guests must not reach.
	var hostLn net.Listener
	err = home.Do(func() error {
		var err error
		hostLn, err = net.Listen("tcp", fmt.Sprintf(":%d", hostOnlyPort))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	greet(t, hostLn, "host secret\n")
}

// greet answers every connection to ln with line.
func greet(t *testing.T, ln net.Listener, line string) {
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = io.WriteString(c, line)
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close() })
}

// inGuest runs a shell command in a guest and returns its output and exit
// status.
func (w *world) inGuest(name, script string) (string, int) {
	w.t.Helper()
	out, errs, code := w.guestBanger("", "vm", "exec", name, "--", "sh", "-c", script)
	return out + errs, code
}

// mustInGuest runs a shell command in a guest and fails unless it exits 0.
func (w *world) mustInGuest(name, script string) string {
	w.t.Helper()
	out, code := w.inGuest(name, script)
	if code != 0 {
		w.t.Fatalf("in %s: %s: exit %d\n%s\ndaemon log:\n%s", name, script, code, out, w.daemonLog())
	}
	return out
}

// refusedInGuest checks that a command that must not get through fails.
func (w *world) refusedInGuest(name, what, script string) {
	w.t.Helper()
	if out, code := w.inGuest(name, script); code == 0 {
		w.t.Errorf("%s: %s got through from %s:\n%s", what, script, name, out)
	}
}

func (w *world) vmInfo(name string) api.VM {
	w.t.Helper()
	var vms []api.VM
	if err := json.Unmarshal([]byte(w.mustBanger("vm", "show", "--json", name)), &vms); err != nil || len(vms) != 1 {
		w.t.Fatalf("vm show %s: %v", name, err)
	}
	return vms[0]
}

// tcpScript connects to host:port from a guest with bash's /dev/tcp and
// prints the first line the other side sends.
func tcpScript(host string, port int) string {
	return fmt.Sprintf(`timeout 5 bash -c 'exec 3<>/dev/tcp/%s/%d; head -n1 <&3'`, host, port)
}

// serveScript starts a tiny HTTP server with perl in the background of a
// guest, answering with the guest's hostname.
func serveScript(port int) string {
	return fmt.Sprintf(`nohup perl -MIO::Socket::INET -e '
$s = IO::Socket::INET->new(LocalPort => %d, Listen => 5, ReuseAddr => 1) or die;
while ($c = $s->accept) { $l = <$c>; chomp(my $h = `+"`hostname`"+`); print $c "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nhello from $h\n"; close $c }' >/dev/null 2>&1 &
for i in $(seq 50); do ss -ltn | grep -q ":%d " && exit 0; sleep 0.1; done; exit 1`, port, port)
}

// TestGuestNetwork boots three guests on the bridge of a world whose
// namespace reaches an upstream network, and checks NAT, isolation, net
// groups, DNS for guests and the host, port forwarding, anti-spoofing, the
// host's other services, and that all of it survives a daemon crash.
func TestGuestNetwork(t *testing.T) {
	w := newGuestWorldWith(t, fmt.Sprintf("\n[dns]\nupstreams = [\"%s:53\"]\n", upstreamAddr), func(w *world) { upstream(t, w) })
	w.mustGuestBanger("vm", "create", "--start", "--net-group", "team", "a")
	w.mustGuestBanger("vm", "create", "--start", "--net-group", "team", "--offline", "b")
	w.mustGuestBanger("vm", "create", "--start", "c")
	a, b, c := w.vmInfo("a"), w.vmInfo("b"), w.vmInfo("c")
	for _, v := range []api.VM{a, b, c} {
		if v.IP == "" || v.DNSName != v.Name+".vm" {
			t.Fatalf("VM %s: address %q, DNS name %q", v.Name, v.IP, v.DNSName)
		}
	}
	t.Logf("a=%s b=%s c=%s", a.IP, b.IP, c.IP)

	t.Run("egress", func(t *testing.T) {
		w.t = t
		out := w.mustInGuest("a", "curl -sS -m 10 http://"+upstreamAddr+"/")
		if !strings.Contains(out, "upstream saw "+hostUpstreamAddr+":") {
			t.Errorf("upstream saw %q, want the host's masqueraded address %s", out, hostUpstreamAddr)
		}
		w.refusedInGuest("b", "an offline VM reached upstream", "curl -sS -m 5 http://"+upstreamAddr+"/")
	})

	t.Run("dns", func(t *testing.T) {
		w.t = t
		if out := w.mustInGuest("a", "getent hosts b.vm"); !strings.HasPrefix(out, b.IP+" ") {
			t.Errorf("getent hosts b.vm in a = %q, want %s", out, b.IP)
		}
		if out := w.mustInGuest("a", "getent hosts "+upstreamName); !strings.HasPrefix(out, upstreamAddr+" ") {
			t.Errorf("getent hosts %s in a = %q, want %s (forwarded upstream)", upstreamName, out, upstreamAddr)
		}
		out, err := exec.Command("ip", "netns", "exec", w.netns, "getent", "hosts", "c.vm").CombinedOutput()
		if err != nil || !strings.HasPrefix(string(out), c.IP+" ") {
			t.Errorf("getent hosts c.vm on the host side = %q, %v; want %s", out, err, c.IP)
		}
	})

	w.mustInGuest("a", serveScript(guestHTTPPort))
	w.mustInGuest("c", serveScript(guestHTTPPort))

	t.Run("groups", func(t *testing.T) {
		w.t = t
		if out := w.mustInGuest("b", "curl -sS -m 10 http://a.vm:8000/"); !strings.Contains(out, "hello from a") {
			t.Errorf("b -> a (same group) = %q", out)
		}
		w.mustInGuest("b", "ping -c1 -W3 "+a.IP)
		w.refusedInGuest("a", "a reached c (no common group)", "curl -sS -m 5 http://c.vm:8000/")
		w.refusedInGuest("c", "c reached a (no common group)", "curl -sS -m 5 http://a.vm:8000/")
		w.refusedInGuest("c", "c pinged a (no common group)", "ping -c1 -W3 "+a.IP)
	})

	t.Run("host-services", func(t *testing.T) {
		w.t = t
		// The control: the same port upstream is reachable.
		if out := w.mustInGuest("a", tcpScript(upstreamAddr, hostOnlyPort)); !strings.Contains(out, "upstream greets") {
			t.Errorf("a -> upstream:%d = %q", hostOnlyPort, out)
		}
		for _, addr := range []string{"10.77.0.1", hostUpstreamAddr} {
			w.refusedInGuest("a", "a guest reached a host service on "+addr, tcpScript(addr, hostOnlyPort))
		}
	})

	t.Run("spoofing", func(t *testing.T) {
		w.t = t
		// The control: c reaches upstream from its own address.
		w.mustInGuest("c", "curl -sS -m 10 http://"+upstreamAddr+"/")
		// c claims a's address and b's: nothing it sends from them gets anywhere.
		for _, victim := range []string{a.IP, b.IP} {
			w.mustInGuest("c", fmt.Sprintf("ip addr add %s/32 dev eth0", victim))
			script := fmt.Sprintf("curl -sS -m 5 --interface %s http://%s/", victim, upstreamAddr)
			w.refusedInGuest("c", "a spoofed source address reached upstream", script)
			if victim == b.IP { // posing as a member of a's group
				w.refusedInGuest("c", "a spoofed source address reached a VM", fmt.Sprintf("curl -sS -m 5 --interface %s http://%s:%d/", victim, a.IP, guestHTTPPort))
			}
			w.mustInGuest("c", fmt.Sprintf("ip addr del %s/32 dev eth0", victim))
		}
	})

	var fwd api.Forward
	t.Run("ports-and-forward", func(t *testing.T) {
		w.t = t
		var ports []api.Port
		if err := json.Unmarshal([]byte(w.mustBanger("vm", "ports", "--json", "a")), &ports); err != nil {
			t.Fatal(err)
		}
		found := false
		for _, p := range ports {
			found = found || (p.Port == guestHTTPPort && p.Endpoint == fmt.Sprintf("a.vm:%d", guestHTTPPort))
		}
		if !found {
			t.Errorf("vm ports a = %+v, want %d at a.vm:%d", ports, guestHTTPPort, guestHTTPPort)
		}
		if err := json.Unmarshal([]byte(w.mustBanger("vm", "forward", "--json", "a", fmt.Sprintf("0:%d", guestHTTPPort))), &fwd); err != nil {
			t.Fatal(err)
		}
		if got := w.fetchForward(t, fwd); !strings.Contains(got, "hello from a") {
			t.Errorf("forwarded port %d answered %q", fwd.HostPort, got)
		}
	})

	t.Run("daemon-crash", func(t *testing.T) {
		w.t = t
		if w.daemon == nil {
			t.Skip("the daemon was auto-started by the CLI; nothing to crash")
		}
		w.killDaemon(syscall.SIGKILL)
		w.startDaemon()
		w.mustInGuest("a", "curl -sS -m 10 http://"+upstreamAddr+"/")
		if out := w.mustInGuest("b", "curl -sS -m 10 http://a.vm:8000/"); !strings.Contains(out, "hello from a") {
			t.Errorf("b -> a after the crash = %q", out)
		}
		w.refusedInGuest("c", "c reached a after the crash", "curl -sS -m 5 http://a.vm:8000/")
		if got := w.fetchForward(t, fwd); !strings.Contains(got, "hello from a") {
			t.Errorf("forward after the crash answered %q", got)
		}
		w.assertNetwork(t, 3)
	})

	t.Run("teardown", func(t *testing.T) {
		w.t = t
		w.mustGuestBanger("vm", "stop", "c")
		w.assertNetwork(t, 2)
		w.mustGuestBanger("vm", "delete", "a", "b", "c")
		w.assertNetwork(t, 0)
	})
}

// fetchForward asks for / through a forwarded host port, from inside the
// world's namespace.
func (w *world) fetchForward(t *testing.T, f api.Forward) string {
	t.Helper()
	var body []byte
	err := netnstest.Open(t, w.netns).Do(func() error {
		c, err := net.DialTimeout("tcp", netip.AddrPortFrom(netip.MustParseAddr(f.HostAddr), uint16(f.HostPort)).String(), 5*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(c, "GET / HTTP/1.0\r\n\r\n"); err != nil {
			return err
		}
		body, err = io.ReadAll(c)
		return err
	})
	if err != nil {
		t.Errorf("fetch through forwarded port %d: %v", f.HostPort, err)
	}
	return string(body)
}

// assertNetwork checks the host side of the world's network against the
// number of running VMs: one tap on the bridge each, their addresses in
// the NAT set, no tap left over, and an empty ruleset with none.
func (w *world) assertNetwork(t *testing.T, running int) {
	t.Helper()
	var info api.SystemInfo
	if err := json.Unmarshal([]byte(w.mustBanger("system", "info", "--json")), &info); err != nil || info.Network == nil {
		t.Fatalf("system info: %v (%+v)", err, info.Network)
	}
	n := info.Network
	if n.Attached != running || !n.FirewallPresent {
		t.Errorf("network: %d attached, firewall present %v; want %d attached and the tables", n.Attached, n.FirewallPresent, running)
	}
	var vms []api.VM
	if err := json.Unmarshal([]byte(w.mustBanger("vm", "list", "--json")), &vms); err != nil {
		t.Fatal(err)
	}
	nat := 0
	for _, v := range vms {
		if (v.State == api.StateRunning || v.State == api.StatePaused) && v.NAT {
			nat++
		}
	}
	if n.NATVMs != nat {
		t.Errorf("%d addresses in the firewall's NAT set, want %d (running VMs with NAT)", n.NATVMs, nat)
	}
	if running == 0 && n.FirewallRules != 0 {
		t.Errorf("%d firewall rules left with no VM running, want the empty tables", n.FirewallRules)
	}
	out, err := exec.Command("ip", "-n", w.netns, "-o", "link", "show").CombinedOutput()
	if err != nil {
		t.Fatalf("list links: %v\n%s", err, out)
	}
	taps := 0
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 1 && strings.HasPrefix(f[1], "bt-") {
			taps++
			if !strings.Contains(line, "master banger0") {
				t.Errorf("tap not on the bridge: %s", line)
			}
		}
	}
	if taps != running {
		t.Errorf("%d VM taps in the namespace, want %d:\n%s", taps, running, out)
	}
}
