package privileged

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"banger/internal/errdefs"
	"banger/internal/firewall"
	"banger/internal/testtier"
)

// cmpNet compares netip values by ==.
var cmpNet = cmpopts.EquateComparable(netip.Prefix{}, netip.Addr{})

// helper is a server on a socket in a temporary directory.
type helper struct {
	socket string
	logs   *logBuffer
	done   chan error
	cancel context.CancelFunc
	once   sync.Once
}

// stop ends Serve and waits for it; the test's end does it too.
func (hp *helper) stop(t *testing.T) {
	t.Helper()
	hp.once.Do(func() {
		hp.cancel()
		if err := <-hp.done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
}

// startHelper serves h under p with the given request timeout until the
// test ends.
func startHelper(t *testing.T, p Policy, h Served, idle time.Duration) *helper {
	t.Helper()
	socket := filepath.Join(t.TempDir(), "run", "helper.sock")
	// The socket is the served uid's, as the real helper makes it; only
	// root can give it away, so as another user it stays ours.
	ln, err := Listen(socket, p.UID)
	if err != nil && p.UID != os.Geteuid() {
		ln, err = Listen(socket, os.Geteuid())
	}
	if err != nil {
		t.Fatal(err)
	}
	log, logs := newLogger()
	ctx, cancel := context.WithCancel(context.Background())
	hp := &helper{socket: socket, logs: logs, done: make(chan error, 1), cancel: cancel}
	go func() { hp.done <- newServer(p, h, log, idle).serve(ctx, ln) }()
	t.Cleanup(func() { hp.stop(t) })
	return hp
}

// selfPolicy serves this process's uid: the tests that call through the
// socket run as root or as any user.
func selfPolicy() Policy { return Policy{UID: os.Getuid(), Bridge: "banger0"} }

// step is one call made the same way on any Host.
type step struct {
	name string
	do   func(h Host) (any, error)
}

// sequence exercises every method, with failures of several kinds.
var sequence = []step{
	{"bridge", func(h Host) (any, error) {
		return nil, h.EnsureBridge("banger0", netip.MustParsePrefix("10.77.0.1/24"))
	}},
	{"tap", func(h Host) (any, error) { return nil, h.CreateTap("bt-0123456789ab", os.Getuid(), os.Getgid()) }},
	{"tap again", func(h Host) (any, error) { return nil, h.CreateTap("bt-0123456789ab", os.Getuid(), os.Getgid()) }},
	{"spare", func(h Host) (any, error) { return nil, h.CreateTap("bp1a2b-00000000", os.Getuid(), os.Getgid()) }},
	{"attach", func(h Host) (any, error) { return nil, h.AttachTap("bt-0123456789ab", "banger0") }},
	{"attach missing", func(h Host) (any, error) { return nil, h.AttachTap("bt-ffffffffffff", "banger0") }},
	{"rename an up tap", func(h Host) (any, error) { return nil, h.RenameLink("bt-0123456789ab", "bp1a2b-11111111") }},
	{"rename a spare", func(h Host) (any, error) { return nil, h.RenameLink("bp1a2b-00000000", "bt-aaaaaaaaaaaa") }},
	{"taps", func(h Host) (any, error) { return h.Links("bt-") }},
	{"no spares", func(h Host) (any, error) { return h.Links("bp1a2b-") }},
	{"exists", func(h Host) (any, error) { return h.LinkExists("bt-aaaaaaaaaaaa") }},
	{"index", func(h Host) (any, error) { return h.LinkIndex("banger0") }},
	{"index missing", func(h Host) (any, error) { return h.LinkIndex("bt-ffffffffffff") }},
	{"routes", func(h Host) (any, error) { return h.RoutedPrefixes("") }},
	{"routes but ours", func(h Host) (any, error) { return h.RoutedPrefixes("banger0") }},
	{"forwarding on", func(h Host) (any, error) { return nil, h.SetForwarding(true) }},
	{"forwarding", func(h Host) (any, error) { return h.Forwarding() }},
	{"rules", func(h Host) (any, error) { return nil, h.ApplyRules(testSpec(3)) }},
	{"refused rules", func(h Host) (any, error) { return nil, h.ApplyRules(firewall.Spec{Bridge: "banger0"}) }},
	{"read rules", func(h Host) (any, error) { return h.ReadRules() }},
	{"detach", func(h Host) (any, error) { return nil, h.DetachTap("bt-0123456789ab") }},
	{"delete", func(h Host) (any, error) { return nil, h.DeleteLink("bt-0123456789ab") }},
	{"delete again", func(h Host) (any, error) { return nil, h.DeleteLink("bt-0123456789ab") }},
}

// testSpec is a valid spec with n VMs on banger0.
func testSpec(n int) firewall.Spec {
	s := firewall.Spec{Bridge: "banger0", Gateway: netip.MustParsePrefix("10.77.0.1/16"), DNSPort: 53}
	for i := range n {
		s.VMs = append(s.VMs, firewall.VM{
			Tap:   fmt.Sprintf("bt-%012x", i),
			IP:    netip.AddrFrom4([4]byte{10, 77, byte((i + 2) >> 8), byte(i + 2)}),
			MAC:   net.HardwareAddr{0x0a, 0, 0, 0, byte(i >> 8), byte(i)},
			NAT:   i%2 == 0,
			Group: []string{"", "web"}[i%2],
		})
	}
	return s
}

// outcome is what a step gave: its result and the kind of its error.
type outcome struct {
	Result any
	Kind   errdefs.Kind
}

func run(h Host) []outcome {
	var out []outcome
	for _, s := range sequence {
		r, err := s.do(h)
		out = append(out, outcome{Result: r, Kind: errdefs.KindOf(err)})
	}
	return out
}

// TestClientMatchesHost: the same calls through the helper and directly
// give the same results, error kinds and host state.
func TestClientMatchesHost(t *testing.T) {
	testtier.Root(t) // the sequence gives taps to root and uid 4711, which only a root caller may
	direct, served := newFakeHost(), newFakeHost()
	hp := startHelper(t, selfPolicy(), served, requestTimeout)
	want := run(direct)
	got := run(Client{Socket: hp.socket})
	if diff := cmp.Diff(want, got, cmpNet); diff != "" {
		t.Errorf("outcomes directly (-) and through the helper (+):\n%s", diff)
	}
	if diff := cmp.Diff(direct.state(), served.state(), cmpNet); diff != "" {
		t.Errorf("host state directly (-) and through the helper (+):\n%s", diff)
	}
	// The sequence must have exercised failures, or the kinds proved nothing.
	kinds := map[errdefs.Kind]bool{}
	for _, o := range got {
		kinds[o.Kind] = true
	}
	for _, k := range []errdefs.Kind{"", errdefs.AlreadyExists, errdefs.NotFound, errdefs.FailedPrecondition, errdefs.InvalidArgument} {
		if !kinds[k] {
			t.Errorf("no step gave kind %q", k)
		}
	}
}

// TestLargeSpec: a spec of 200 VMs fits in a request and arrives whole.
func TestLargeSpec(t *testing.T) {
	host := newFakeHost()
	hp := startHelper(t, selfPolicy(), host, requestTimeout)
	want := testSpec(200)
	if err := (Client{Socket: hp.socket}).ApplyRules(want); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, *host.rules, cmpNet, cmpopts.IgnoreUnexported(firewall.Spec{})); diff != "" {
		t.Errorf("spec the host got (-sent +got):\n%s", diff)
	}
	b, _ := json.Marshal(request{Method: "ApplyRules", Args: mustJSON(t, rulesArgs{Spec: specToWire(want)})})
	if len(b) > maxRequest/8 {
		t.Errorf("a 200-VM request is %d bytes; want well under the %d cap", len(b), maxRequest)
	}
}

func mustJSON(t *testing.T, v any) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestClientWithoutHelper(t *testing.T) {
	_, err := Client{Socket: filepath.Join(t.TempDir(), "none.sock")}.LinkExists("banger0")
	if errdefs.KindOf(err) != errdefs.Unavailable || !strings.Contains(err.Error(), "bangerd --root-helper") {
		t.Errorf("no helper: %v, want an unavailable error saying how to start it", err)
	}
}

// cmpEmpty treats nil and empty slices alike.
var cmpEmpty = cmpopts.EquateEmpty()
