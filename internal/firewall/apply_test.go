package firewall

import (
	"net"
	"net/netip"
	"os/exec"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/nftables"

	"banger/internal/netnstest"
)

// specOf is a spec on banger0 10.77.0.1/24 with DNS on 53 and vms.
func specOf(vms ...VM) Spec {
	return Spec{Bridge: "banger0", Gateway: netip.MustParsePrefix("10.77.0.1/24"), DNSPort: 53, VMs: vms}
}

// vmN is a valid VM numbered n (2-254) for tests that need many.
func vmN(n int, nat bool, group string) VM {
	return VM{
		Tap:   "tap" + itoa(n),
		IP:    netip.AddrFrom4([4]byte{10, 77, 0, byte(n)}),
		MAC:   net.HardwareAddr{0x02, 0xba, 0x00, 0x00, byte(n >> 8), byte(n)},
		NAT:   nat,
		Group: group,
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// tablesNamed counts the tables of each family named banger.
func tablesNamed(t *testing.T) map[string]int {
	t.Helper()
	conn, err := nftables.New()
	if err != nil {
		t.Fatal(err)
	}
	tables, err := conn.ListTables()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, tb := range tables {
		if tb.Name == TableName {
			got[familyName(tb.Family)]++
		}
	}
	return got
}

// logRuleset logs `nft list ruleset` when nft is installed, for debugging.
func logRuleset(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("nft"); err != nil {
		return
	}
	out, err := exec.Command("nft", "list", "ruleset").CombinedOutput()
	t.Logf("nft list ruleset (err %v):\n%s", err, out)
}

func TestApplyReplacesTablesAtomically(t *testing.T) {
	if !netnstest.Isolate(t) {
		return
	}
	vms := []VM{vmN(2, true, "g"), vmN(3, false, "g"), vmN(4, true, "")}
	// The first Apply adds and deletes tables that do not exist yet, in
	// the same batch.
	if err := Apply(specOf(vms...)); err != nil {
		t.Fatalf("first Apply: %v", err)
	}
	logRuleset(t)
	if err := Apply(specOf(vms...)); err != nil {
		t.Fatalf("second Apply: %v", err)
	}
	if diff := cmp.Diff(map[string]int{"inet": 1, "bridge": 1}, tablesNamed(t)); diff != "" {
		t.Errorf("tables named banger after two Applies (-want +got):\n%s", diff)
	}
	got, err := Read()
	if err != nil {
		t.Fatal(err)
	}
	want := Status{Present: true, Chains: 6, Rules: fullRules, NATVMs: 2}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Read after Apply (-want +got):\n%s", diff)
	}

	// Fewer VMs: the set shrinks, the rules stay the same.
	if err := Apply(specOf(vms[1])); err != nil {
		t.Fatal(err)
	}
	if got, _ := Read(); got.NATVMs != 0 {
		t.Errorf("NATVMs after re-Apply with one non-NAT VM = %d, want 0", got.NATVMs)
	}

	// No VMs: both tables exist and are empty.
	if err := Apply(specOf()); err != nil {
		t.Fatal(err)
	}
	got, err = Read()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(Status{Present: true}, got); diff != "" {
		t.Errorf("Read after Apply with no VMs (-want +got):\n%s", diff)
	}

	for i := range 2 { // the second Remove finds nothing to remove
		if err := Remove(); err != nil {
			t.Fatalf("Remove #%d: %v", i+1, err)
		}
	}
	if diff := cmp.Diff(map[string]int{}, tablesNamed(t)); diff != "" {
		t.Errorf("tables named banger after Remove (-want +got):\n%s", diff)
	}
	got, err = Read()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(Status{}, got); diff != "" {
		t.Errorf("Read after Remove (-want +got):\n%s", diff)
	}
}

// fullRules is the number of rules of a spec with VMs: they do not grow
// with the number of VMs, which live in sets.
const fullRules = 6 + 4 + 1 + 4 + 3 + 2

// TestApplierRefreshesSetsAndFallsBack checks the Applier's cheap path
// gives the same sets as a whole replace, and that it recovers when the
// tables vanish behind its back.
func TestApplierRefreshesSetsAndFallsBack(t *testing.T) {
	if !netnstest.Isolate(t) {
		return
	}
	var a Applier
	one := specOf(vmN(2, true, "g"))
	two := specOf(vmN(2, true, "g"), vmN(3, true, "g"))
	for _, step := range []struct {
		spec Spec
		nat  int
	}{{one, 1}, {two, 2}, {one, 1}, {specOf(), 0}, {two, 2}} {
		if err := a.Apply(step.spec); err != nil {
			t.Fatal(err)
		}
		st, err := Read()
		if err != nil {
			t.Fatal(err)
		}
		if !st.Present || st.NATVMs != step.nat {
			t.Fatalf("after applying %d VMs: %+v, want %d NAT VMs", len(step.spec.VMs), st, step.nat)
		}
		if len(step.spec.VMs) == 0 && st.Rules != 0 {
			t.Fatalf("rules left with no VM: %+v", st)
		}
	}
	if err := Remove(); err != nil {
		t.Fatal(err)
	}
	if err := a.Apply(one); err != nil {
		t.Fatalf("Apply after the tables were removed: %v", err)
	}
	if st, err := Read(); err != nil || !st.Present || st.NATVMs != 1 || st.Rules == 0 {
		t.Fatalf("after recovering: %+v, %v", st, err)
	}
}
