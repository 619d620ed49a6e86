package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"banger/internal/agent/agentclient"
	"banger/internal/api"
	"banger/internal/errdefs"
	"banger/internal/netnstest"
	"banger/internal/network"
)

// guestIdentity is what tells one guest from another, as the guest sees
// itself.
type guestIdentity struct {
	hostname, machineID, mac, addr, hostKey, token string
}

// identityOf reads name's identity from inside the guest.
func (w *world) identityOf(name string) guestIdentity {
	w.t.Helper()
	out := w.mustInGuest(name, `hostname; cat /etc/machine-id; cat /sys/class/net/eth0/address; ip -4 -o addr show dev eth0 | awk '{print $4}'; cut -d' ' -f2 /etc/ssh/ssh_host_ed25519_key.pub; cat /etc/banger/agent-token`)
	f := strings.Fields(out)
	if len(f) != 6 {
		w.t.Fatalf("identity of %s: %q, want 6 fields", name, out)
	}
	return guestIdentity{hostname: f[0], machineID: f[1], mac: f[2], addr: f[3], hostKey: f[4], token: f[5]}
}

// TestGuestFork forks a running guest with a file and a background
// process into three copies on the network of a world that reaches an
// upstream "internet": each copy has the file and the process, is a new
// machine (host name, machine-id, MAC, address, SSH host key and agent
// token its own, the parent's token refused by its agent), reaches
// upstream through NAT, answers on its own .vm name, and keeps its writes
// to itself. The fork's snapshot goes with the last copy.
func TestGuestFork(t *testing.T) {
	w := newGuestWorldWith(t, fmt.Sprintf("\n[dns]\nupstreams = [\"%s:53\"]\n", upstreamAddr), func(w *world) { upstream(t, w) })
	w.mustGuestBanger("vm", "create", "--start", "p")
	w.mustInGuest("p", "echo before-fork > /root/forkfile && sync && (nohup sleep 987654 >/dev/null 2>&1 &) && sleep 0.2 && pgrep -f 'sleep 987654' >/dev/null")
	parent := w.identityOf("p")

	start := time.Now()
	var copies []api.VM
	if err := json.Unmarshal([]byte(w.mustGuestBanger("vm", "fork", "p", "--name", "f", "-n", "3", "--json")), &copies); err != nil {
		t.Fatal(err)
	}
	t.Logf("vm fork p -n 3 (qemu, software emulation): %s", time.Since(start).Round(time.Millisecond))
	if len(copies) != 3 {
		t.Fatalf("vm fork made %d copies, want 3", len(copies))
	}
	seen := map[string]string{} // identity value -> the guest that has it
	unique := func(who, what, v string) {
		if prev, ok := seen[what+"="+v]; ok {
			t.Errorf("%s and %s share the %s %q", prev, who, what, v)
		}
		seen[what+"="+v] = who
	}
	for _, what := range []struct{ k, v string }{{"hostname", parent.hostname}, {"machine-id", parent.machineID},
		{"mac", parent.mac}, {"address", parent.addr}, {"host key", parent.hostKey}, {"token", parent.token}} {
		unique("p", what.k, what.v)
	}
	for _, c := range copies {
		if c.State != api.StateRunning || c.IP == "" || c.DNSName != c.Name+".vm" || !strings.HasPrefix(c.Snapshot, "p-fork-") {
			t.Fatalf("copy %+v: want running with an address and a .vm name, from p's fork snapshot", c)
		}
		if out := w.mustInGuest(c.Name, "cat /root/forkfile; pgrep -f 'sleep 987654' >/dev/null && echo process-there"); out != "before-fork\nprocess-there\n" {
			t.Errorf("%s: file and process = %q, want them as in p", c.Name, out)
		}
		id := w.identityOf(c.Name)
		if id.hostname != c.Name || id.mac != c.MAC || !strings.HasPrefix(id.addr, c.IP+"/") {
			t.Errorf("%s sees itself as %s, MAC %s, address %s; want %s, %s, %s", c.Name, id.hostname, id.mac, id.addr, c.Name, c.MAC, c.IP)
		}
		for _, what := range []struct{ k, v string }{{"hostname", id.hostname}, {"machine-id", id.machineID},
			{"mac", id.mac}, {"address", id.addr}, {"host key", id.hostKey}, {"token", id.token}} {
			unique(c.Name, what.k, what.v)
		}
		// The NAT'd upstream, from the copy's own address.
		if out := w.mustInGuest(c.Name, "curl -sS -m 10 http://"+upstreamAddr+"/"); !strings.Contains(out, "upstream saw "+hostUpstreamAddr+":") {
			t.Errorf("%s -> upstream: %q", c.Name, out)
		}
		w.mustInGuest(c.Name, serveScript(guestHTTPPort))
	}
	// Each copy's qemu has its own tap on its command line.
	taps := map[string]string{}
	for _, v := range append([]api.VM{w.vmInfo("p")}, copies...) {
		raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", v.PID))
		if err != nil {
			t.Fatalf("command line of %s's qemu: %v", v.Name, err)
		}
		tap := ""
		for _, opt := range strings.Split(strings.ReplaceAll(string(raw), "\x00", ","), ",") {
			if n, ok := strings.CutPrefix(opt, "ifname="); ok {
				tap = n
			}
		}
		if tap != network.TapName(v.ID) {
			t.Errorf("%s's qemu uses tap %q, want its own %s", v.Name, tap, network.TapName(v.ID))
		}
		if prev, ok := taps[tap]; ok {
			t.Errorf("%s and %s share tap %s", prev, v.Name, tap)
		}
		taps[tap] = v.Name
	}
	// Each answers on its own name, from the host side.
	for _, c := range copies {
		out, err := netnstest.Command(context.Background(), w.netns, "getent", "hosts", c.DNSName).CombinedOutput()
		if err != nil || !strings.HasPrefix(string(out), c.IP+" ") {
			t.Errorf("getent hosts %s = %q, %v; want %s", c.DNSName, out, err, c.IP)
		}
		if got := w.httpFromHost(t, c.IP, guestHTTPPort); !strings.Contains(got, "hello from "+c.Name) {
			t.Errorf("http://%s:%d/ answered %q, want hello from %s", c.DNSName, guestHTTPPort, got, c.Name)
		}
	}
	// A write in one is seen by no other.
	w.mustInGuest("f-1", "echo changed-in-f-1 > /root/forkfile && sync")
	for _, name := range []string{"p", "f-2", "f-3"} {
		if out := w.mustInGuest(name, "cat /root/forkfile"); out != "before-fork\n" {
			t.Errorf("/root/forkfile in %s after f-1 wrote it = %q", name, out)
		}
	}

	// A restarted agent keeps the copy's address, although the kernel
	// command line (/proc/cmdline) is still the parent's.
	f3 := copies[2]
	w.mustInGuest("f-3", "systemd-run --on-active=1 systemctl restart banger-agent.service")
	time.Sleep(2 * time.Second)
	addrs := ""
	for deadline := time.Now().Add(90 * time.Second); time.Now().Before(deadline); time.Sleep(time.Second) {
		out, code := w.inGuest("f-3", "ip -4 -o addr show dev eth0 | awk '{print $4}'")
		if code == 0 {
			addrs = out
			break
		}
	}
	if fields := strings.Fields(addrs); len(fields) != 1 || !strings.HasPrefix(fields[0], f3.IP+"/") {
		t.Errorf("f-3's addresses after its agent restarted: %q, want only %s", addrs, f3.IP)
	}

	t.Run("parent token refused", func(t *testing.T) {
		w.t = t
		if w.daemon == nil {
			t.Skip("the daemon was auto-started by the CLI; its agent sessions cannot be ended")
		}
		// With the daemon gone, its session with the agent of f-2 is
		// closed and the test can open its own on the VM's agent socket.
		w.killDaemon(syscall.SIGKILL)
		f2 := copies[1]
		sock := filepath.Join(w.runVMsDir(), f2.ID, "vsock.sock")
		if err := agentAnswer(sock, parent.token); !errdefs.Is(err, errdefs.FailedPrecondition) {
			t.Errorf("f-2's agent with p's token: %v, want a refusal", err)
		}
		if err := agentAnswer(sock, seenToken(seen, "f-2")); err != nil {
			t.Errorf("f-2's agent with its own token: %v", err)
		}
		w.startDaemon()
		if out := w.mustInGuest("f-2", "hostname"); out != "f-2\n" {
			t.Errorf("f-2 after the daemon restart: %q", out)
		}
	})
	w.t = t

	w.mustGuestBanger("vm", "delete", "f-1", "f-2")
	if len(w.snapshots()) != 1 {
		t.Errorf("snapshots while f-3 runs: %v, want the fork's", w.snapshots())
	}
	w.mustGuestBanger("vm", "delete", "f-3", "p")
	if s := w.snapshots(); len(s) != 0 {
		t.Errorf("snapshots after the last copy was deleted: %v, want none", s)
	}
	w.assertClean()
}

// seenToken is the agent token the identity map recorded for name.
func seenToken(seen map[string]string, name string) string {
	for k, who := range seen {
		if v, ok := strings.CutPrefix(k, "token="); ok && who == name {
			return v
		}
	}
	return ""
}

// agentAnswer opens a session on a qemu agent socket with token and asks
// the agent whether it is ready, retrying while the guest side is still
// ending the daemon's old session: nil when it answers, its refusal when
// it refuses the token.
func agentAnswer(sock, token string) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		err := func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			var d net.Dialer
			conn, err := d.DialContext(ctx, "unix", sock)
			if err != nil {
				return errdefs.Unavailablef("dial %s: %w", sock, err)
			}
			c, err := agentclient.New(conn, token)
			if err != nil {
				conn.Close()
				return err
			}
			defer c.Close()
			_, err = c.Ready(ctx)
			return err
		}()
		if err == nil || !errdefs.Is(err, errdefs.Unavailable) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// httpFromHost fetches / from ip:port inside the world's namespace.
func (w *world) httpFromHost(t *testing.T, ip string, port int) string {
	t.Helper()
	var body []byte
	err := netnstest.Open(t, w.netns).Do(func() error {
		c, err := net.DialTimeout("tcp", net.JoinHostPort(ip, fmt.Sprint(port)), 5*time.Second)
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
		t.Errorf("GET http://%s:%d/: %v", ip, port, err)
	}
	return string(body)
}
