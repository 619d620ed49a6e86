package resolved

import (
	"bufio"
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
	"github.com/google/go-cmp/cmp"

	"banger/internal/errdefs"
)

// privateBus starts a dbus-daemon of its own and returns its address.
func privateBus(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("dbus-daemon")
	if err != nil {
		t.Skip("needs dbus-daemon for a private bus: apt-get install dbus-daemon")
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "bus.conf")
	err = os.WriteFile(conf, []byte(fmt.Sprintf(`<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path=%s</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
`, filepath.Join(dir, "bus"))), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--config-file="+conf, "--print-address", "--nofork")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start dbus-daemon: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	addr, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("dbus-daemon printed no address: %v\n%s", err, stderr.String())
	}
	return strings.TrimSpace(addr)
}

func connect(t *testing.T, addr string) *dbus.Conn {
	t.Helper()
	conn, err := dbus.Connect(addr)
	if err != nil {
		t.Fatalf("connect to %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// fakeResolved records the calls made to it. Like resolved, it rejects
// calls whose D-Bus signature is not exactly the introspected one, and it
// fails calls for links in failLinks.
type fakeResolved struct {
	mu        sync.Mutex
	calls     []string
	failOn    string // a method that fails with LinkBusy
	failLinks map[int32]bool
}

func (f *fakeResolved) record(msg dbus.Message, want string, ifindex int32, call string) *dbus.Error {
	f.mu.Lock()
	defer f.mu.Unlock()
	sig, _ := msg.Headers[dbus.FieldSignature].Value().(dbus.Signature)
	if sig.String() != want {
		return dbus.NewError("org.freedesktop.DBus.Error.InvalidArgs", []any{"signature " + sig.String() + ", want " + want})
	}
	f.calls = append(f.calls, call)
	if f.failLinks[ifindex] {
		return dbus.NewError("org.freedesktop.resolve1.NoSuchLink", []any{fmt.Sprintf("Link %d not known", ifindex)})
	}
	member, _ := msg.Headers[dbus.FieldMember].Value().(string)
	if member == f.failOn {
		return dbus.NewError("org.freedesktop.resolve1.LinkBusy", []any{"Link is managed by networkd"})
	}
	return nil
}

func (f *fakeResolved) SetLinkDNS(msg dbus.Message, ifindex int32, addrs []struct {
	Family  int32
	Address []byte
}) *dbus.Error {
	var parts []string
	for _, a := range addrs {
		ip, _ := netip.AddrFromSlice(a.Address)
		parts = append(parts, fmt.Sprintf("%d:%v", a.Family, ip))
	}
	return f.record(msg, "ia(iay)", ifindex, fmt.Sprintf("SetLinkDNS %d %s", ifindex, strings.Join(parts, ",")))
}

func (f *fakeResolved) SetLinkDomains(msg dbus.Message, ifindex int32, domains []struct {
	Domain      string
	RoutingOnly bool
}) *dbus.Error {
	var parts []string
	for _, d := range domains {
		parts = append(parts, fmt.Sprintf("%s:%v", d.Domain, d.RoutingOnly))
	}
	return f.record(msg, "ia(sb)", ifindex, fmt.Sprintf("SetLinkDomains %d %s", ifindex, strings.Join(parts, ",")))
}

func (f *fakeResolved) SetLinkDefaultRoute(msg dbus.Message, ifindex int32, enable bool) *dbus.Error {
	return f.record(msg, "ib", ifindex, fmt.Sprintf("SetLinkDefaultRoute %d %v", ifindex, enable))
}

func (f *fakeResolved) RevertLink(msg dbus.Message, ifindex int32) *dbus.Error {
	return f.record(msg, "i", ifindex, fmt.Sprintf("RevertLink %d", ifindex))
}

// fail makes method fail with LinkBusy, and calls on link fail with NoSuchLink.
func (f *fakeResolved) fail(method string, link int32) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failOn = method
	f.failLinks = map[int32]bool{link: true}
}

func (f *fakeResolved) take() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.calls
	f.calls = nil
	return c
}

// startFake puts a fake resolved on the bus at addr.
func startFake(t *testing.T, addr string) *fakeResolved {
	t.Helper()
	conn := connect(t, addr)
	f := &fakeResolved{failLinks: map[int32]bool{}}
	if err := conn.Export(f, ObjPath, Interface); err != nil {
		t.Fatal(err)
	}
	reply, err := conn.RequestName(BusName, dbus.NameFlagDoNotQueue)
	if err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("own %s: reply %v, err %v", BusName, reply, err)
	}
	return f
}

func TestConfigureAndRevert(t *testing.T) {
	addr := privateBus(t)
	f := startFake(t, addr)
	conn := connect(t, addr)
	ctx := context.Background()
	tests := []struct {
		name    string
		ifindex int
		dns     string
		domain  string
		want    []string
	}{
		{"ipv4", 7, "10.99.0.1", "vm", []string{"SetLinkDNS 7 2:10.99.0.1", "SetLinkDomains 7 vm:true", "SetLinkDefaultRoute 7 false"}},
		{"ipv6 and dotted domain", 8, "fd00::1", "Sandbox.Test.", []string{"SetLinkDNS 8 10:fd00::1", "SetLinkDomains 8 sandbox.test:true", "SetLinkDefaultRoute 8 false"}},
		{"mapped ipv4", 9, "::ffff:127.0.0.153", "vm", []string{"SetLinkDNS 9 2:127.0.0.153", "SetLinkDomains 9 vm:true", "SetLinkDefaultRoute 9 false"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := Configure(ctx, conn, tt.ifindex, netip.MustParseAddr(tt.dns), tt.domain); err != nil {
				t.Fatalf("Configure: %v", err)
			}
			if diff := cmp.Diff(tt.want, f.take()); diff != "" {
				t.Errorf("calls (-want +got):\n%s", diff)
			}
			if err := Revert(ctx, conn, tt.ifindex); err != nil {
				t.Fatalf("Revert: %v", err)
			}
			if diff := cmp.Diff([]string{fmt.Sprintf("RevertLink %d", tt.ifindex)}, f.take()); diff != "" {
				t.Errorf("calls (-want +got):\n%s", diff)
			}
		})
	}
}

func TestConfigureFailures(t *testing.T) {
	addr := privateBus(t)
	f := startFake(t, addr)
	conn := connect(t, addr)
	ctx := context.Background()

	// A failure after the first step reverts the link.
	f.fail("SetLinkDomains", 0)
	err := Configure(ctx, conn, 7, netip.MustParseAddr("10.99.0.1"), "vm")
	if !errdefs.Is(err, errdefs.FailedPrecondition) || !strings.Contains(err.Error(), "networkd") {
		t.Errorf("Configure with a busy link = %v, want FailedPrecondition naming networkd", err)
	}
	want := []string{"SetLinkDNS 7 2:10.99.0.1", "SetLinkDomains 7 vm:true", "RevertLink 7"}
	if diff := cmp.Diff(want, f.take()); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}

	// An unknown link fails at the first step; there is nothing to undo.
	f.fail("", 99)
	err = Configure(ctx, conn, 99, netip.MustParseAddr("10.99.0.1"), "vm")
	if !errdefs.Is(err, errdefs.FailedPrecondition) || !strings.Contains(err.Error(), "link 99") {
		t.Errorf("Configure on an unknown link = %v, want FailedPrecondition naming the link", err)
	}
	if diff := cmp.Diff([]string{"SetLinkDNS 99 2:10.99.0.1"}, f.take()); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}

	// The fake holds callers to resolved's signatures.
	err = conn.Object(BusName, ObjPath).Call(Interface+".SetLinkDNS", 0, int32(7), []string{"10.99.0.1"}).Err
	if err == nil {
		t.Error("the fake accepted SetLinkDNS with a(s) addresses")
	}
	f.take()

	// Bad arguments never reach the bus.
	for _, tt := range []struct {
		ifindex int
		dns     netip.Addr
		domain  string
	}{
		{0, netip.MustParseAddr("10.99.0.1"), "vm"},
		{7, netip.Addr{}, "vm"},
		{7, netip.MustParseAddr("10.99.0.1"), ""},
		{7, netip.MustParseAddr("10.99.0.1"), "~vm"},
	} {
		if err := Configure(ctx, conn, tt.ifindex, tt.dns, tt.domain); !errdefs.Is(err, errdefs.InvalidArgument) {
			t.Errorf("Configure(%d, %v, %q) = %v, want InvalidArgument", tt.ifindex, tt.dns, tt.domain, err)
		}
	}
	if err := Revert(ctx, conn, -1); !errdefs.Is(err, errdefs.InvalidArgument) {
		t.Errorf("Revert(-1) = %v, want InvalidArgument", err)
	}
	if got := f.take(); len(got) != 0 {
		t.Errorf("bad arguments reached the bus: %v", got)
	}
}

func TestAvailable(t *testing.T) {
	addr := privateBus(t)
	conn := connect(t, addr)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if AvailableOn(ctx, conn) {
		t.Error("AvailableOn = true before resolved is on the bus")
	}
	err := Configure(ctx, conn, 7, netip.MustParseAddr("10.99.0.1"), "vm")
	if !errdefs.Is(err, errdefs.Unavailable) || !strings.Contains(err.Error(), "not running") {
		t.Errorf("Configure without resolved = %v, want Unavailable saying it is not running", err)
	}
	startFake(t, addr)
	if !AvailableOn(ctx, conn) {
		t.Error("AvailableOn = false with resolved on the bus")
	}
	// Available and SystemBus use the system bus, which the environment
	// can point at the private one.
	t.Setenv("DBUS_SYSTEM_BUS_ADDRESS", addr)
	if !Available(ctx) {
		t.Error("Available = false with resolved on the system bus")
	}
	sys, err := SystemBus()
	if err != nil {
		t.Fatalf("SystemBus: %v", err)
	}
	defer sys.Close()
	if !AvailableOn(ctx, sys) {
		t.Error("AvailableOn(SystemBus()) = false")
	}
	t.Setenv("DBUS_SYSTEM_BUS_ADDRESS", "unix:path="+filepath.Join(t.TempDir(), "none"))
	if Available(ctx) {
		t.Error("Available = true with no system bus")
	}
	if _, err := SystemBus(); !errdefs.Is(err, errdefs.Unavailable) {
		t.Errorf("SystemBus with no bus = %v, want Unavailable", err)
	}
}
