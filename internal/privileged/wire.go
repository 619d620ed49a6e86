package privileged

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"

	"banger/internal/errdefs"
	"banger/internal/firewall"
)

// request is what a client sends, once per connection.
type request struct {
	Method string          `json:"method"`
	Args   json.RawMessage `json:"args,omitempty"`
}

// reply is what the helper answers: Result on success, Error otherwise.
type reply struct {
	Result json.RawMessage `json:"result,omitempty"`
	Error  *wireError      `json:"error,omitempty"`
}

// wireError carries an error and its errdefs kind.
type wireError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// toWireError keeps err's kind and message.
func toWireError(err error) *wireError {
	return &wireError{Code: string(errdefs.KindOf(err)), Message: err.Error()}
}

// err turns a wire error back into a classified error; an unknown code is
// Internal.
func (e *wireError) err() error {
	return &errdefs.Error{Kind: errdefs.KindOfCode(e.Code), Msg: e.Message}
}

// decodeStrict decodes raw into v refusing unknown fields and trailing
// data. An absent or null raw leaves v zero.
func decodeStrict(raw json.RawMessage, v any) error {
	if len(raw) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("data after the arguments")
	}
	return nil
}

// The arguments of each method.
type (
	noArgs           struct{}
	ensureBridgeArgs struct {
		Name string       `json:"name"`
		Addr netip.Prefix `json:"addr"`
	}
	createTapArgs struct {
		Name string `json:"name"`
		UID  int    `json:"uid"`
		GID  int    `json:"gid"`
	}
	attachTapArgs struct {
		Tap    string `json:"tap"`
		Bridge string `json:"bridge"`
	}
	tapArgs struct {
		Tap string `json:"tap"`
	}
	renameArgs struct {
		From string `json:"from"`
		To   string `json:"to"`
	}
	nameArgs struct {
		Name string `json:"name"`
	}
	prefixArgs struct {
		Prefix string `json:"prefix"`
	}
	excludeArgs struct {
		Exclude string `json:"exclude"`
	}
	forwardingArgs struct {
		On *bool `json:"on"` // required: a missing value never turns forwarding off
	}
	rulesArgs struct {
		Spec wireSpec `json:"spec"`
	}
)

// wireSpec is firewall.Spec on the wire.
type wireSpec struct {
	Bridge  string       `json:"bridge"`
	Gateway netip.Prefix `json:"gateway"`
	DNSPort uint16       `json:"dns_port"`
	VMs     []wireVM     `json:"vms"`
}

// wireVM is firewall.VM on the wire; MAC is "0a:00:00:00:00:01".
type wireVM struct {
	Tap   string     `json:"tap"`
	IP    netip.Addr `json:"ip"`
	MAC   string     `json:"mac"`
	NAT   bool       `json:"nat,omitempty"`
	Group string     `json:"group,omitempty"`
}

func specToWire(s firewall.Spec) wireSpec {
	w := wireSpec{Bridge: s.Bridge, Gateway: s.Gateway, DNSPort: s.DNSPort, VMs: make([]wireVM, 0, len(s.VMs))}
	for _, vm := range s.VMs {
		mac := ""
		if len(vm.MAC) > 0 {
			mac = vm.MAC.String()
		}
		w.VMs = append(w.VMs, wireVM{Tap: vm.Tap, IP: vm.IP, MAC: mac, NAT: vm.NAT, Group: vm.Group})
	}
	return w
}

// spec converts back; an unparsable MAC is an InvalidArgument error naming
// the VM.
func (w wireSpec) spec() (firewall.Spec, error) {
	s := firewall.Spec{Bridge: w.Bridge, Gateway: w.Gateway, DNSPort: w.DNSPort}
	for i, vm := range w.VMs {
		var mac net.HardwareAddr
		if vm.MAC != "" {
			m, err := net.ParseMAC(vm.MAC)
			if err != nil {
				return firewall.Spec{}, errdefs.InvalidArgumentf("spec.vms[%d].mac %q: %w: use the form 0a:00:00:00:00:01", i, vm.MAC, err)
			}
			mac = m
		}
		s.VMs = append(s.VMs, firewall.VM{Tap: vm.Tap, IP: vm.IP, MAC: mac, NAT: vm.NAT, Group: vm.Group})
	}
	return s, nil
}

// wireStatus is firewall.Status on the wire.
type wireStatus struct {
	Present bool `json:"present"`
	Chains  int  `json:"chains"`
	Rules   int  `json:"rules"`
	NATVMs  int  `json:"nat_vms"`
}

func statusToWire(s firewall.Status) wireStatus {
	return wireStatus{Present: s.Present, Chains: s.Chains, Rules: s.Rules, NATVMs: s.NATVMs}
}

func (w wireStatus) status() firewall.Status {
	return firewall.Status{Present: w.Present, Chains: w.Chains, Rules: w.Rules, NATVMs: w.NATVMs}
}
