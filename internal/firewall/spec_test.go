package firewall

import (
	"net"
	"net/netip"
	"strings"
	"testing"

	"banger/internal/errdefs"
)

func TestValidate(t *testing.T) {
	ok := specOf(vmN(2, true, "red"), vmN(3, false, "red"), vmN(4, false, ""))
	tests := []struct {
		name   string
		change func(s *Spec)
		want   []string // substrings of the error; nil means valid
	}{
		{"valid", func(s *Spec) {}, nil},
		{"no VMs", func(s *Spec) { s.VMs = nil }, nil},
		{"empty bridge", func(s *Spec) { s.Bridge = "" }, []string{"bridge: link name is empty"}},
		{"long bridge", func(s *Spec) { s.Bridge = "banger0123456789" }, []string{"bridge: link name \"banger0123456789\" is 16 bytes long"}},
		{"bridge with slash", func(s *Spec) { s.Bridge = "br/0" }, []string{"bridge: link name \"br/0\" has '/'"}},
		{"tap with space", func(s *Spec) { s.VMs[0].Tap = "tap 2" }, []string{"vms[0].tap: link name \"tap 2\" has ' '"}},
		{"tap with quote", func(s *Spec) { s.VMs[0].Tap = `tap"` }, []string{"vms[0].tap: link name"}},
		{"tap dot-dot", func(s *Spec) { s.VMs[0].Tap = ".." }, []string{"vms[0].tap: link name \"..\" is not allowed"}},
		{"tap is bridge", func(s *Spec) { s.VMs[0].Tap = "banger0" }, []string{"vms[0].tap \"banger0\": is the bridge itself"}},
		{"duplicate tap", func(s *Spec) { s.VMs[1].Tap = s.VMs[0].Tap }, []string{"vms[1].tap \"tap2\": already used by vms[0]"}},
		{"IP outside subnet", func(s *Spec) { s.VMs[0].IP = netip.MustParseAddr("10.78.0.2") }, []string{"vms[0].ip 10.78.0.2: outside the bridge network 10.77.0.0/24"}},
		{"IP is gateway", func(s *Spec) { s.VMs[0].IP = netip.MustParseAddr("10.77.0.1") }, []string{"vms[0].ip 10.77.0.1: is the gateway's address"}},
		{"IP is broadcast", func(s *Spec) { s.VMs[0].IP = netip.MustParseAddr("10.77.0.255") }, []string{"vms[0].ip 10.77.0.255: is the network or broadcast"}},
		{"IPv6", func(s *Spec) { s.VMs[0].IP = netip.MustParseAddr("fd00::2") }, []string{"vms[0].ip \"fd00::2\": must be an IPv4 address"}},
		{"no IP", func(s *Spec) { s.VMs[0].IP = netip.Addr{} }, []string{"vms[0].ip \"invalid IP\": must be an IPv4 address"}},
		{"duplicate IP", func(s *Spec) { s.VMs[2].IP = s.VMs[0].IP }, []string{"vms[2].ip 10.77.0.2: already used by vms[0]"}},
		{"short MAC", func(s *Spec) { s.VMs[0].MAC = net.HardwareAddr{1, 2} }, []string{"vms[0].mac \"01:02\": must be a 6-byte"}},
		{"multicast MAC", func(s *Spec) { s.VMs[0].MAC = net.HardwareAddr{1, 0, 0, 0, 0, 1} }, []string{"is a multicast address"}},
		{"zero MAC", func(s *Spec) { s.VMs[0].MAC = make(net.HardwareAddr, 6) }, []string{"is the zero address"}},
		{"duplicate MAC", func(s *Spec) { s.VMs[1].MAC = s.VMs[0].MAC }, []string{"vms[1].mac 02:ba:00:00:00:02: already used by vms[0]"}},
		{"uppercase group", func(s *Spec) { s.VMs[0].Group = "Red" }, []string{"vms[0].group: invalid network group name \"Red\""}},
		{"group with dot", func(s *Spec) { s.VMs[0].Group = "a.b" }, []string{"vms[0].group: invalid network group name \"a.b\""}},
		{"long group", func(s *Spec) { s.VMs[0].Group = strings.Repeat("g", 64) }, []string{"vms[0].group: invalid network group name"}},
		{"no gateway", func(s *Spec) { s.Gateway = netip.Prefix{} }, []string{"gateway: not set"}},
		{"IPv6 gateway", func(s *Spec) { s.Gateway = netip.MustParsePrefix("fd00::1/64") }, []string{"gateway fd00::1/64: must be an IPv4 address"}},
		{"gateway is network", func(s *Spec) { s.Gateway = netip.MustParsePrefix("10.77.0.0/24") }, []string{"is the network or broadcast address"}},
		{"prefix too long", func(s *Spec) { s.Gateway = netip.MustParsePrefix("10.77.0.1/31") }, []string{"prefix length must be between 8 and 30"}},
		{"no DNS port", func(s *Spec) { s.DNSPort = 0 }, []string{"dns port: must be set"}},
		{"every problem at once", func(s *Spec) {
			s.Bridge = ""
			s.DNSPort = 0
			s.VMs[0].Tap = ""
			s.VMs[1].Group = "-x"
		}, []string{"bridge:", "dns port:", "vms[0].tap:", "vms[1].group:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := ok
			s.VMs = append([]VM(nil), ok.VMs...)
			tt.change(&s)
			err := s.Validate()
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want an error with %q", tt.want)
			}
			if got, want := errdefs.KindOf(err), errdefs.InvalidArgument; got != want {
				t.Errorf("kind = %v, want %v", got, want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %q, want it to contain %q", err, w)
				}
			}
		})
	}
}

// TestApplyRefusesInvalidSpec checks that Apply validates before it
// touches the kernel (it needs no privileges to fail).
func TestApplyRefusesInvalidSpec(t *testing.T) {
	err := Apply(specOf(vmN(2, false, "Bad Group")))
	if got, want := errdefs.KindOf(err), errdefs.InvalidArgument; got != want {
		t.Fatalf("Apply(invalid) kind = %v (%v), want %v", got, err, want)
	}
}

func TestRulesetIsConstantInVMs(t *testing.T) {
	count := func(n int) (rules, elems int) {
		var vms []VM
		for i := range n {
			vms = append(vms, vmN(i+2, i%2 == 0, "g"+itoa(i/5)))
		}
		for _, tb := range ruleset(specOf(vms...)) {
			for _, c := range tb.chains {
				rules += len(c.rules)
			}
			for _, s := range tb.sets {
				elems += len(s.elems)
			}
		}
		return rules, elems
	}
	r1, _ := count(1)
	r200, e200 := count(200)
	if r1 != fullRules || r200 != fullRules {
		t.Errorf("rules for 1 and 200 VMs = %d, %d; want %d for both", r1, r200, fullRules)
	}
	// nat_vms 100, vm_addrs 200, taps 200, tap_addrs 200, tap_group 200, group_members 200.
	if want := 100 + 5*200; e200 != want {
		t.Errorf("set elements for 200 VMs = %d, want %d", e200, want)
	}
	if r0, e0 := count(0); r0 != 0 || e0 != 0 {
		t.Errorf("no VMs: %d rules, %d elements; want empty tables", r0, e0)
	}
}

func TestStableGroupIDs(t *testing.T) {
	vms := func(groups ...string) []VM {
		var out []VM
		for _, g := range groups {
			out = append(out, VM{Group: g})
		}
		return out
	}
	first := stableGroupIDs(nil, vms("b", "a", "", "b"))
	if first["a"] != 1 || first["b"] != 2 || len(first) != 2 {
		t.Fatalf("first numbering = %v", first)
	}
	// "a" leaves, "c" and "aa" arrive: "b" keeps 2, the new ones take 1 and 3.
	next := stableGroupIDs(first, vms("b", "c", "aa"))
	if next["b"] != 2 || next["aa"] != 1 || next["c"] != 3 {
		t.Fatalf("next numbering = %v", next)
	}
	seen := map[uint32]string{}
	for g, id := range next {
		if other, dup := seen[id]; dup {
			t.Fatalf("groups %s and %s share number %d", g, other, id)
		}
		seen[id] = g
	}
}
