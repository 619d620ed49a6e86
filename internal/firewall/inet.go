package firewall

import (
	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// vmAddrsType is the type of the vm_addrs set.
var vmAddrsType = nftables.MustConcatSetType(nftables.TypeEtherAddr, nftables.TypeIPAddr)

// buildInet fills the inet table, which sees routed traffic: what guests
// may reach on the host, what may leave for and come back from outside,
// and masquerade.
func buildInet(t *tableDef, spec Spec, ids *idAlloc) {
	var nat []nftables.SetElement
	for _, vm := range spec.VMs {
		if vm.NAT {
			a := vm.IP.As4()
			nat = append(nat, nftables.SetElement{Key: a[:]})
		}
	}
	natVMs := t.addSet(&nftables.Set{Name: setNATVMs, KeyType: nftables.TypeIPAddr}, ids, nat)
	var addrs []nftables.SetElement
	for _, vm := range spec.VMs {
		a := vm.IP.As4()
		key := append(append([]byte{}, vm.MAC[:6]...), 0, 0)
		addrs = append(addrs, nftables.SetElement{Key: append(key, a[:]...)})
	}
	vmAddrs := t.addSet(&nftables.Set{Name: setVMAddrs, KeyType: vmAddrsType, Concatenation: true}, ids, addrs)

	br := spec.Bridge
	fromBridge := matchIf(expr.MetaKeyIIFNAME, expr.CmpOpEq, br)
	toBridge := matchIf(expr.MetaKeyOIFNAME, expr.CmpOpEq, br)
	notFromBridge := matchIf(expr.MetaKeyIIFNAME, expr.CmpOpNeq, br)
	notToBridge := matchIf(expr.MetaKeyOIFNAME, expr.CmpOpNeq, br)
	accept := []expr.Any{verdict(expr.VerdictAccept)}
	drop := []expr.Any{verdict(expr.VerdictDrop)}
	gw := spec.Gateway.Addr().As4()
	toGateway := []expr.Any{
		load(expr.PayloadBaseNetworkHeader, 16, 4, regPlain),
		compare(expr.CmpOpEq, regPlain, gw[:]),
	}
	fromNATVM := []expr.Any{load(expr.PayloadBaseNetworkHeader, 12, 4, regPlain), lookup(natVMs, regPlain, false)}
	// A known VM's Ethernet and IPv4 source: the bridge table already
	// holds each tap to its own pair, this also catches ports of the
	// bridge that are not the spec's taps.
	vmSource := func(invert bool) []expr.Any {
		return []expr.Any{
			load(expr.PayloadBaseLLHeader, 6, 6, regKey0),
			load(expr.PayloadBaseNetworkHeader, 12, 4, regKey0+2),
			lookup(vmAddrs, regKey0, invert),
		}
	}
	notFromVM, fromVM := vmSource(true), vmSource(false)

	// Guests reach the host only for replies and DNS on the gateway
	// address; everything else from the bridge, to any host address, is
	// dropped.
	in := t.addChain("input", nftables.ChainTypeFilter, nftables.ChainHookInput, 0)
	in.add(fromBridge, notIPv4(), drop)
	in.add(fromBridge, notFromVM, drop)
	in.add(fromBridge, matchEstablished(), accept)
	in.add(fromBridge, matchIPv4(), toGateway, matchPort(unix.IPPROTO_UDP, spec.DNSPort), accept)
	in.add(fromBridge, matchIPv4(), toGateway, matchPort(unix.IPPROTO_TCP, spec.DNSPort), accept)
	in.add(fromBridge, drop)

	// Only traffic between the bridge and another interface is judged
	// here. Bridge-to-bridge is left alone: with br_netfilter loaded,
	// frames bridged between taps show up here with both names equal to
	// the bridge, and they are judged in the bridge table instead.
	fwd := t.addChain("forward", nftables.ChainTypeFilter, nftables.ChainHookForward, 0)
	fwd.add(fromBridge, notToBridge, matchIPv4(), fromVM, fromNATVM, accept)
	fwd.add(fromBridge, notToBridge, drop)
	fwd.add(toBridge, notFromBridge, matchEstablished(), accept)
	fwd.add(toBridge, notFromBridge, drop)

	post := t.addChain("postrouting", nftables.ChainTypeNAT, nftables.ChainHookPostrouting, 100)
	post.add(notToBridge, matchIPv4(), fromNATVM, []expr.Any{&expr.Masq{}})
}
