package privileged

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	vnl "github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"banger/internal/errdefs"
	"banger/internal/netlink"
	"banger/internal/netnstest"
	"banger/internal/peercred/peercredtest"
	"banger/internal/testtier"
)

// addLAN gives the test's namespace a network it already uses: a veth
// with addr, up, whose peer lives in a namespace of its own.
func addLAN(t *testing.T, name, addr string) {
	t.Helper()
	ns := netnstest.New(t)
	if err := netnstest.Veth(name, "peer0", ns); err != nil {
		t.Fatal(err)
	}
	if err := ns.Do(func() error { return netnstest.LinkUp("peer0") }); err != nil {
		t.Fatal(err)
	}
	if err := netnstest.AddrAdd(name, addr); err != nil {
		t.Fatal(err)
	}
	if err := netnstest.LinkUp(name); err != nil {
		t.Fatal(err)
	}
}

// kernelRoutes lists every IPv4 route of every table, as text.
func kernelRoutes(t *testing.T) []string {
	t.Helper()
	rs, err := vnl.RouteListFiltered(vnl.FAMILY_V4, &vnl.Route{Table: unix.RT_TABLE_UNSPEC}, vnl.RT_FILTER_TABLE)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range rs {
		out = append(out, fmt.Sprintf("table %d dst %v dev %d", r.Table, r.Dst, r.LinkIndex))
	}
	sort.Strings(out)
	return out
}

// TestRealHostBridgeAddress: the helper itself refuses bridge addresses
// the config would refuse, and one whose network the namespace already
// routes; nothing reaches the kernel. A free address still works, and
// asking again for the bridge's own address is no clash.
func TestRealHostBridgeAddress(t *testing.T) {
	testtier.Root(t)
	if !netnstest.Isolate(t) {
		return
	}
	addLAN(t, "lan0", "10.99.0.1/24")
	hp := startHelper(t, Policy{UID: 4711, Bridge: hostBridge}, NewLocal(), requestTimeout)
	c := Client{Socket: hp.socket}
	before := kernelRoutes(t)
	tests := []struct {
		addr   string
		kind   errdefs.Kind
		saying string
	}{
		{"128.0.0.1/1", errdefs.InvalidArgument, "private range"},
		{"0.0.0.0/0", errdefs.InvalidArgument, "private range"},
		{"8.8.8.1/24", errdefs.InvalidArgument, "private range"},
		{"10.0.0.1/8", errdefs.InvalidArgument, "between /16 and /28"},
		{"10.77.0.1/30", errdefs.InvalidArgument, "between /16 and /28"},
		{"10.77.0.0/24", errdefs.InvalidArgument, "network address"},
		{"10.99.0.77/24", errdefs.FailedPrecondition, "overlaps the host's route to 10.99.0.0/24"},
		{"10.99.0.1/16", errdefs.FailedPrecondition, "overlaps the host's route to 10.99.0.0/24"},
		{"10.99.0.129/25", errdefs.FailedPrecondition, "overlaps the host's route to 10.99.0.0/24"},
	}
	for _, tt := range tests {
		err := c.EnsureBridge(hostBridge, netip.MustParsePrefix(tt.addr))
		if errdefs.KindOf(err) != tt.kind || !strings.Contains(fmt.Sprint(err), tt.saying) {
			t.Errorf("EnsureBridge %s: %v, want kind %s saying %q", tt.addr, err, tt.kind, tt.saying)
		}
	}
	if _, err := vnl.LinkByName(hostBridge); err == nil {
		t.Errorf("bridge %s exists after only refused requests", hostBridge)
	}
	if diff := cmp.Diff(before, kernelRoutes(t)); diff != "" {
		t.Errorf("routes changed by refused requests (-before +after):\n%s", diff)
	}
	for range 2 {
		if err := c.EnsureBridge(hostBridge, netip.MustParsePrefix("10.77.0.1/24")); err != nil {
			t.Fatalf("EnsureBridge on a free network: %v", err)
		}
	}
	if got := readKernel(t, hostBridge, "").BridgeAddrs; !cmp.Equal(got, []string{"10.77.0.1/24"}) {
		t.Errorf("bridge addresses %v, want [10.77.0.1/24]", got)
	}
}

// Environment of the re-executed TestHelperCalls process.
const callsEnv = "BANGER_PRIVILEGED_TEST_CALLS" // "Method arg…; Method arg…"

// TestHelperCalls is not a test: tests re-execute the test binary as
// another uid to run it. It makes the calls in $BANGER_PRIVILEGED_TEST_CALLS
// through the helper at $BANGER_PRIVILEGED_TEST_SOCKET and prints the kind
// of error of each ("ok" for none).
func TestHelperCalls(t *testing.T) {
	sock, calls := os.Getenv(callSocketEnv), os.Getenv(callsEnv)
	if sock == "" || calls == "" {
		t.Skip("helper process of other tests; runs only when re-executed with " + callsEnv)
	}
	c := Client{Socket: sock}
	var kinds []string
	for _, call := range strings.Split(calls, ";") {
		f := strings.Fields(call)
		var err error
		switch f[0] {
		case "CreateTap":
			err = c.CreateTap(f[1], os.Getuid(), os.Getgid())
		case "AttachTap":
			err = c.AttachTap(f[1], f[2])
		case "DetachTap":
			err = c.DetachTap(f[1])
		case "RenameLink":
			err = c.RenameLink(f[1], f[2])
		case "DeleteLink":
			err = c.DeleteLink(f[1])
		default:
			t.Fatalf("unknown call %q", call)
		}
		k := string(errdefs.KindOf(err))
		if k == "" {
			k = "ok"
		}
		kinds = append(kinds, k)
	}
	fmt.Printf("RESULT %s\n", strings.Join(kinds, " "))
}

// openToOthers lets other uids reach dir's contents: t.TempDir and its
// parent are 0700.
func openToOthers(t *testing.T, dir string) {
	t.Helper()
	for _, p := range []string{filepath.Dir(dir), filepath.Dir(filepath.Dir(dir))} {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRealHostTapOwnership: a caller that is not root changes only taps
// the helper made for it. Another uid's tap, a veth and a tun, all named
// like banger's taps, cannot be attached, detached, renamed or deleted
// through the helper, and are left as they were; the caller's own tap goes
// through its whole life.
func TestRealHostTapOwnership(t *testing.T) {
	testtier.Root(t)
	if !netnstest.Isolate(t) {
		return
	}
	const owner, other = 65534, 4711
	if err := NewLocal().EnsureBridge(hostBridge, netip.MustParsePrefix("10.77.0.1/24")); err != nil {
		t.Fatal(err)
	}
	if err := netlink.CreateTap("bt-00000000aaaa", other, other); err != nil {
		t.Fatal(err)
	}
	addLAN(t, "bt-00000000bbbb", "10.99.0.1/24")
	tun := &vnl.Tuntap{LinkAttrs: vnl.LinkAttrs{Name: "bp1a2b-0000cccc"}, Mode: vnl.TUNTAP_MODE_TUN,
		Flags: vnl.TUNTAP_NO_PI | vnl.TUNTAP_TUN_EXCL, Queues: 1, Owner: owner, Group: owner}
	err := vnl.LinkAdd(tun)
	for _, f := range tun.Fds {
		_ = f.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	type facts struct {
		Kind  string
		Owner uint32
	}
	survivors := func() map[string]facts {
		out := map[string]facts{}
		for _, n := range []string{"bt-00000000aaaa", "bt-00000000bbbb", "bp1a2b-0000cccc"} {
			if l, err := netlink.LookupLink(n); err == nil && l != nil {
				out[n] = facts{l.Kind, l.Owner}
			}
		}
		return out
	}
	before := survivors()

	hp := startHelper(t, Policy{UID: owner, Bridge: hostBridge}, NewLocal(), requestTimeout)
	run := filepath.Dir(hp.socket)
	openToOthers(t, run)
	bin := peercredtest.Binary(t, filepath.Dir(run))
	calls := []struct{ call, want string }{
		{"AttachTap bt-00000000aaaa " + hostBridge, "failed_precondition"},
		{"DetachTap bt-00000000aaaa", "failed_precondition"},
		{"RenameLink bt-00000000aaaa bt-000000000001", "failed_precondition"},
		{"DeleteLink bt-00000000aaaa", "failed_precondition"},
		{"AttachTap bt-00000000bbbb " + hostBridge, "failed_precondition"},
		{"DetachTap bt-00000000bbbb", "failed_precondition"},
		{"RenameLink bt-00000000bbbb bt-000000000002", "failed_precondition"},
		{"DeleteLink bt-00000000bbbb", "failed_precondition"},
		{"RenameLink bp1a2b-0000cccc bt-000000000003", "failed_precondition"},
		{"DeleteLink bp1a2b-0000cccc", "failed_precondition"},
		{"CreateTap bt-0000000000dd", "ok"},
		{"AttachTap bt-0000000000dd " + hostBridge, "ok"},
		{"DetachTap bt-0000000000dd", "ok"},
		{"RenameLink bt-0000000000dd bp1a2b-000000dd", "ok"},
		{"DeleteLink bp1a2b-000000dd", "ok"},
	}
	var list, want []string
	for _, c := range calls {
		list, want = append(list, c.call), append(want, c.want)
	}
	// The caller runs in this namespace too, as a plain process: not as
	// a netnstest child, which would try to set its mounts up.
	got := peercredtest.RunAs(t, bin, filepath.Dir(run), "TestHelperCalls", owner,
		callSocketEnv+"="+hp.socket, callsEnv+"="+strings.Join(list, ";"), "BANGER_NETNS_TEST=")
	if diff := cmp.Diff(want, strings.Fields(got)); diff != "" {
		t.Errorf("outcomes of %q (-want +got):\n%s", list, diff)
	}
	if diff := cmp.Diff(before, survivors()); diff != "" {
		t.Errorf("links that are not the caller's taps changed (-before +after):\n%s", diff)
	}
	if ok, _ := netlink.LinkExists("bp1a2b-000000dd"); ok {
		t.Error("the caller's own tap survived its DeleteLink")
	}
	if n := len(hp.logs.find(t, "refused request", owner)); n != 10 {
		t.Errorf("%d refusal log records with uid %d, want 10", n, owner)
	}
}
