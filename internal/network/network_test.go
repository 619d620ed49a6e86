package network

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"banger/internal/errdefs"
)

func TestTapNameAndMAC(t *testing.T) {
	id := "0123456789abcdef"
	if got := TapName(id); got != "bt-0123456789ab" || len(got) > 15 {
		t.Errorf("TapName = %q", got)
	}
	mac, err := net.ParseMAC(MACFor(id))
	if err != nil {
		t.Fatal(err)
	}
	if mac[0]&0x02 == 0 || mac[0]&0x01 != 0 {
		t.Errorf("MAC %s is not locally administered unicast", mac)
	}
	if again := MACFor(string([]byte(id))); again != MACFor(id) || MACFor(id) == MACFor("fedcba9876543210") {
		t.Error("MACFor is not a stable function of the id")
	}
	if p := poolPrefix("banger0"); len(p)+8 > 15 || p == poolPrefix("banger1") {
		t.Errorf("pool prefix %q: too long or shared between bridges", p)
	}
}

func TestAttachDetach(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, 0)
	if err := r.svc.Setup(ctx, nil, nil); err != nil {
		t.Fatal(err)
	}
	a := r.vm(t, 1, true, "team")
	b := r.vm(t, 2, false, "")
	atA, err := r.svc.Attach(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	want := Attachment{Tap: TapName(a.ID), MAC: MACFor(a.ID), Addr: netip.MustParsePrefix("10.77.0.2/24"),
		Gateway: netip.MustParseAddr("10.77.0.1"), DNS: netip.MustParseAddr("10.77.0.1")}
	if atA != want {
		t.Fatalf("Attach = %+v, want %+v", atA, want)
	}
	if _, err := r.svc.Attach(ctx, b); err != nil {
		t.Fatal(err)
	}
	// Attaching again is harmless.
	if again, err := r.svc.Attach(ctx, a); err != nil || again != atA {
		t.Fatalf("second Attach = %+v, %v", again, err)
	}
	if got := r.links.snapshot("bt-"); len(got) != 2 || got[TapName(a.ID)] != "banger0" || got[TapName(b.ID)] != "banger0" {
		t.Fatalf("taps = %v, want both on banger0", got)
	}
	if r.links.owner[TapName(a.ID)] != 1000 {
		t.Errorf("tap owner = %d, want 1000", r.links.owner[TapName(a.ID)])
	}
	rules := r.fw.rules()
	if len(rules.VMs) != 2 || rules.Bridge != "banger0" || rules.DNSPort != 53 || rules.Gateway.String() != "10.77.0.1/24" {
		t.Fatalf("rules = %+v", rules)
	}
	if !rules.VMs[0].NAT && !rules.VMs[1].NAT {
		t.Error("no VM has NAT in the rules")
	}
	if !r.links.forwarding() {
		t.Error("forwarding is off although a NAT VM is attached")
	}
	if ip := r.names.recs["vm1"]; ip.String() != "10.77.0.2" {
		t.Errorf("DNS vm1 = %v", ip)
	}
	// Detaching the NAT VM turns forwarding off again: banger turned it on.
	if err := r.svc.Detach(ctx, a.ID, a.Name); err != nil {
		t.Fatal(err)
	}
	settle(t, r)
	if r.links.forwarding() {
		t.Error("forwarding still on with no NAT VM")
	}
	if _, ok := r.names.recs["vm1"]; ok {
		t.Error("vm1 still in DNS after detach")
	}
	if got := r.links.snapshot("bt-"); len(got) != 1 {
		t.Errorf("taps after detach = %v", got)
	}
	if err := r.svc.Detach(ctx, b.ID, b.Name); err != nil {
		t.Fatal(err)
	}
	settle(t, r)
	if got := r.fw.rules(); len(got.VMs) != 0 {
		t.Errorf("rules after the last detach = %+v, want none", got.VMs)
	}
	// Detaching an unknown VM is fine.
	if err := r.svc.Detach(ctx, "ffffffffffffffff", ""); err != nil {
		t.Fatal(err)
	}
	settle(t, r)
}

func TestForwardingTheAdminTurnedOnStaysOn(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, 0)
	r.links.fwd = true
	if err := r.svc.Setup(ctx, nil, nil); err != nil {
		t.Fatal(err)
	}
	a := r.vm(t, 1, true, "")
	if _, err := r.svc.Attach(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := r.svc.Detach(ctx, a.ID, a.Name); err != nil {
		t.Fatal(err)
	}
	settle(t, r)
	if !r.links.forwarding() {
		t.Error("banger turned off forwarding it had not turned on")
	}
}

func TestForwardingOwnershipSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, 0)
	if err := r.svc.Setup(ctx, nil, nil); err != nil {
		t.Fatal(err)
	}
	a := r.vm(t, 1, true, "")
	if _, err := r.svc.Attach(ctx, a); err != nil {
		t.Fatal(err)
	}
	// A new daemon re-adopts a as running, then a stops.
	r.svc.Close()
	r.svc = New(r.svc.cfg)
	if err := r.svc.Setup(ctx, []VM{a}, nil); err != nil {
		t.Fatal(err)
	}
	if err := r.svc.Detach(ctx, a.ID, a.Name); err != nil {
		t.Fatal(err)
	}
	settle(t, r)
	if r.links.forwarding() {
		t.Error("forwarding banger enabled before the restart was left on")
	}
}

func TestPoolHitAndMiss(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, 2)
	// A spare left by a previous daemon is adopted.
	if err := r.links.CreateTap(poolPrefix("banger0")+"00000000", 1000, 1000); err != nil {
		t.Fatal(err)
	}
	if err := r.svc.Setup(ctx, nil, nil); err != nil {
		t.Fatal(err)
	}
	r.waitSpares(t, 2)
	created := r.links.created
	for n := 1; n <= 3; n++ {
		if _, err := r.svc.Attach(ctx, r.vm(t, n, false, "")); err != nil {
			t.Fatal(err)
		}
	}
	_, hits, misses := r.svc.pool.stats()
	if hits+misses != 3 || hits == 0 {
		t.Errorf("pool hits %d, misses %d; want 3 takes with some hits", hits, misses)
	}
	r.waitSpares(t, 2)
	if r.links.created <= created {
		t.Error("the pool did not refill")
	}
	spares := r.links.snapshot(poolPrefix("banger0"))
	for n, master := range spares {
		if master != "" {
			t.Errorf("spare %s is attached to %s", n, master)
		}
	}
}

func TestSetupRemovesTapsOfStoppedVMsAndReattachesRunning(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, 0)
	stopped := r.vm(t, 1, false, "")
	running := r.vm(t, 2, true, "g")
	for _, id := range []string{stopped.ID, running.ID} {
		if err := r.links.CreateTap(TapName(id), 0, 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.svc.Setup(ctx, []VM{running}, []string{stopped.ID}); err != nil {
		t.Fatal(err)
	}
	taps := r.links.snapshot("bt-")
	if _, ok := taps[TapName(stopped.ID)]; ok {
		t.Error("the stopped VM's tap survived Setup")
	}
	if taps[TapName(running.ID)] != "banger0" {
		t.Errorf("running VM's tap = %q, want on banger0", taps[TapName(running.ID)])
	}
	if got := r.fw.rules(); len(got.VMs) != 1 || got.VMs[0].Group != "g" {
		t.Errorf("rules after Setup = %+v", got.VMs)
	}
	if _, ok := r.names.recs["vm2"]; !ok {
		t.Error("running VM is not in DNS after Setup")
	}
}

func TestSetupRefusesAClashingSubnet(t *testing.T) {
	r := newRig(t, 0)
	r.links.routes = []netip.Prefix{
		netip.MustParsePrefix("0.0.0.0/0"),
		netip.MustParsePrefix("10.77.0.0/16"),
		netip.MustParsePrefix("10.78.0.0/24"),
	}
	err := r.svc.Setup(context.Background(), nil, nil)
	if !errdefs.Is(err, errdefs.FailedPrecondition) {
		t.Fatalf("Setup = %v, want FailedPrecondition", err)
	}
	for _, want := range []string{"10.77.0.0/24", "10.77.0.0/16", `network.subnet = "10.79.0.0/24"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
	if len(r.links.snapshot("banger0")) != 0 {
		t.Error("the bridge was made although the subnet clashes")
	}
}

func TestAttachFailsCleanlyWhenTapsCannotBeMade(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, 0)
	if err := r.svc.Setup(ctx, nil, nil); err != nil {
		t.Fatal(err)
	}
	r.links.failTap = errors.New("operation not permitted")
	a := r.vm(t, 1, true, "")
	if _, err := r.svc.Attach(ctx, a); err == nil || !strings.Contains(err.Error(), "operation not permitted") {
		t.Fatalf("Attach = %v", err)
	}
	if got := r.fw.rules(); len(got.VMs) != 0 {
		t.Errorf("rules after a failed attach = %+v", got.VMs)
	}
}

func TestConcurrentAttachesShareRuleUpdates(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, 0)
	r.fw.delay = 50 * time.Millisecond
	if err := r.svc.Setup(ctx, nil, nil); err != nil {
		t.Fatal(err)
	}
	const n = 20
	vms := make([]VM, n)
	for i := range vms {
		vms[i] = r.vm(t, i+1, true, "")
	}
	before := r.fw.applies
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for _, v := range vms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := r.svc.Attach(ctx, v)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := r.fw.rules(); len(got.VMs) != n {
		t.Fatalf("rules hold %d VMs after %d attaches", len(got.VMs), n)
	}
	if applies := r.fw.applies - before; applies > n/2 {
		t.Errorf("%d rule updates for %d concurrent attaches; want them shared", applies, n)
	}
}

func TestStoppedVMsTapGoesBackToThePool(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, 1)
	if err := r.svc.Setup(ctx, nil, nil); err != nil {
		t.Fatal(err)
	}
	r.waitSpares(t, 1)
	a := r.vm(t, 1, false, "")
	if _, err := r.svc.Attach(ctx, a); err != nil { // takes the spare
		t.Fatal(err)
	}
	r.waitSpares(t, 1) // refilled
	if err := r.svc.Detach(ctx, a.ID, a.Name); err != nil {
		t.Fatal(err)
	}
	settle(t, r)
	r.links.mu.Lock()
	to := r.links.renames[TapName(a.ID)]
	r.links.mu.Unlock()
	if !strings.HasPrefix(to, poolPrefix("banger0")) {
		t.Errorf("a's tap was renamed to %q, want a spare of the pool", to)
	}
	r.waitSpares(t, 1) // the extra spare is dropped in the background
	if got := r.links.snapshot("bt-"); len(got) != 0 {
		t.Fatalf("VM taps after detach = %v", got)
	}
	spares := r.links.snapshot(poolPrefix("banger0"))
	if len(spares) == 0 {
		t.Fatal("no spare after detach")
	}
	for n, master := range spares {
		if master != "" {
			t.Errorf("spare %s still on %s", n, master)
		}
	}
}

func TestDetachDoesNotWaitForTheRuleUpdate(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, 0)
	if err := r.svc.Setup(ctx, nil, nil); err != nil {
		t.Fatal(err)
	}
	a := r.vm(t, 1, true, "")
	if _, err := r.svc.Attach(ctx, a); err != nil {
		t.Fatal(err)
	}
	r.fw.mu.Lock()
	r.fw.delay = 300 * time.Millisecond
	r.fw.mu.Unlock()
	start := time.Now()
	if err := r.svc.Detach(ctx, a.ID, a.Name); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 200*time.Millisecond {
		t.Errorf("Detach took %v: it waited for the rule update", took)
	}
	settle(t, r)
	if got := r.fw.rules(); len(got.VMs) != 0 {
		t.Errorf("rules after Settle = %+v, want none", got.VMs)
	}
}

func TestRestartRightAfterStopKeepsTheNewTap(t *testing.T) {
	ctx := context.Background()
	for _, pool := range []int{0, 2} {
		r := newRig(t, pool)
		if err := r.svc.Setup(ctx, nil, nil); err != nil {
			t.Fatal(err)
		}
		a := r.vm(t, 1, true, "")
		if _, err := r.svc.Attach(ctx, a); err != nil {
			t.Fatal(err)
		}
		r.links.mu.Lock()
		r.links.slowOff = 100 * time.Millisecond
		r.links.mu.Unlock()
		start := time.Now()
		if err := r.svc.Detach(ctx, a.ID, a.Name); err != nil {
			t.Fatal(err)
		}
		if took := time.Since(start); took > 80*time.Millisecond {
			t.Errorf("pool %d: Detach waited %v for the tap's removal", pool, took)
		}
		if _, err := r.svc.Attach(ctx, a); err != nil {
			t.Fatal(err)
		}
		settle(t, r)
		if got := r.links.snapshot("bt-"); got[TapName(a.ID)] != "banger0" {
			t.Errorf("pool %d: taps after stop and start = %v, want a's on banger0", pool, got)
		}
		if got := r.fw.rules(); len(got.VMs) != 1 {
			t.Errorf("pool %d: rules after stop and start = %+v", pool, got.VMs)
		}
	}
}

func TestAttachReleasesAnAddressOutsideANewSubnet(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, 0)
	a := r.vm(t, 1, false, "")
	// A lease from before network.subnet changed.
	old, err := r.store.AllocateLease(ctx, a.ID, netip.MustParsePrefix("10.99.0.0/24"), netip.MustParseAddr("10.99.0.1"), MACFor(a.ID))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.svc.Setup(ctx, nil, nil); err != nil {
		t.Fatal(err)
	}
	at, err := r.svc.Attach(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if at.Addr.Addr() == old.IP || !netip.MustParsePrefix("10.77.0.0/24").Contains(at.Addr.Addr()) {
		t.Fatalf("address after the subnet changed = %s (was %s), want one in 10.77.0.0/24", at.Addr, old.IP)
	}
}
