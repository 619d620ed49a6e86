package firewall

import (
	"sort"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
)

// Types of the bridge table's sets.
var (
	tapAddrsType     = nftables.MustConcatSetType(nftables.TypeIFName, nftables.TypeEtherAddr, nftables.TypeIPAddr)
	groupMembersType = nftables.MustConcatSetType(nftables.TypeIFName, nftables.TypeMark)
)

// buildBridge fills the bridge table, which sees frames on the bridge's
// ports: anti-spoofing for everything a tap sends, isolation between taps,
// and no routing back onto the bridge through the host.
func buildBridge(t *tableDef, spec Spec, ids *idAlloc) {
	gids := spec.groups
	if gids == nil {
		gids = groupIDs(spec.VMs)
	}
	var taps, addrs, tapGroup, members []nftables.SetElement
	for _, vm := range spec.VMs {
		taps = append(taps, nftables.SetElement{Key: ifname(vm.Tap)})
		addrs = append(addrs, nftables.SetElement{Key: tapAddrKey(vm)})
		if id, ok := gids[vm.Group]; ok {
			gid := binaryutil.BigEndian.PutUint32(id)
			tapGroup = append(tapGroup, nftables.SetElement{Key: ifname(vm.Tap), Val: gid})
			members = append(members, nftables.SetElement{Key: append(ifname(vm.Tap), gid...)})
		}
	}
	tapSet := t.addSet(&nftables.Set{Name: setTaps, KeyType: nftables.TypeIFName}, ids, taps)
	tapAddrs := t.addSet(&nftables.Set{Name: setTapAddrs, KeyType: tapAddrsType, Concatenation: true}, ids, addrs)
	groups := t.addSet(&nftables.Set{Name: mapTapGroup, KeyType: nftables.TypeIFName, DataType: nftables.TypeMark, IsMap: true}, ids, tapGroup)
	groupMembers := t.addSet(&nftables.Set{Name: setGroupMembers, KeyType: groupMembersType, Concatenation: true}, ids, members)

	// Frames that neither come from nor go to one of the spec's taps are
	// not banger's business (other bridges on the host). Matching the
	// bridge by name (meta ibrname) would need CONFIG_NFT_BRIDGE_META,
	// which not every kernel has.
	notFromTap := []expr.Any{meta(expr.MetaKeyIIFNAME, regPlain), lookup(tapSet, regPlain, true)}
	notToTap := []expr.Any{meta(expr.MetaKeyOIFNAME, regPlain), lookup(tapSet, regPlain, true)}
	accept := []expr.Any{verdict(expr.VerdictAccept)}
	drop := []expr.Any{verdict(expr.VerdictDrop)}
	ll, nh := expr.PayloadBaseLLHeader, expr.PayloadBaseNetworkHeader

	// Everything a tap sends, to the host or to another tap: its own MAC
	// and IPv4 address (IPv4), or its own MAC and IPv4 address as ARP
	// sender (ARP); anything else, including other Ethernet types (IPv6,
	// VLAN), is dropped. Frames from ports that are not the spec's taps
	// reach neither a tap (forward below) nor the host (the inet table
	// checks ether saddr . ip saddr).
	pre := t.addChain("prerouting", nftables.ChainTypeFilter, nftables.ChainHookPrerouting, bridgeFilterPriority)
	pre.add(notFromTap, accept)
	pre.add(matchEtherType(etherIPv4), []expr.Any{
		meta(expr.MetaKeyIIFNAME, regKey0),
		load(ll, 6, 6, regKey1),
		load(nh, 12, 4, regKey2),
		lookup(tapAddrs, regKey0, false),
	}, accept)
	pre.add(matchEtherType(etherARP), []expr.Any{
		load(nh, 0, 6, regPlain),
		compare(expr.CmpOpEq, regPlain, arpIPv4Ether),
		meta(expr.MetaKeyIIFNAME, regKey0),
		load(ll, 6, 6, regKey1),  // Ethernet source
		load(nh, 14, 4, regKey2), // ARP sender IP
		lookup(tapAddrs, regKey0, false),
		load(nh, 8, 6, regKey1), // ARP sender MAC
		lookup(tapAddrs, regKey0, false),
	}, accept)
	pre.add(drop)

	// To or from a tap only between two taps in the same group; flooded
	// frames (ARP requests) are judged per output port, so a VM does not
	// even see a neighbour outside its group.
	fwd := t.addChain("forward", nftables.ChainTypeFilter, nftables.ChainHookForward, bridgeFilterPriority)
	fwd.add(notFromTap, notToTap, accept)
	fwd.add([]expr.Any{
		meta(expr.MetaKeyOIFNAME, regKey1),
		&expr.Lookup{SourceRegister: regKey1, DestRegister: regKey1, IsDestRegSet: true, SetName: groups.set.Name, SetID: groups.set.ID},
		meta(expr.MetaKeyIIFNAME, regKey0),
		lookup(groupMembers, regKey0, false),
	}, accept)
	fwd.add(drop)

	// A frame to the host's MAC for another address on the bridge network
	// would be routed straight back onto the bridge, around the forward
	// chain above: drop it.
	subnet := spec.Gateway.Masked()
	in := t.addChain("input", nftables.ChainTypeFilter, nftables.ChainHookInput, bridgeFilterPriority)
	in.add(notFromTap, accept)
	gw := spec.Gateway.Addr().As4()
	net4 := subnet.Addr().As4()
	in.add(matchEtherType(etherIPv4), []expr.Any{
		load(nh, 16, 4, regPlain),
		compare(expr.CmpOpNeq, regPlain, gw[:]),
		&expr.Bitwise{SourceRegister: regPlain, DestRegister: regPlain, Len: 4,
			Mask: prefixMask(subnet.Bits()), Xor: []byte{0, 0, 0, 0}},
		compare(expr.CmpOpEq, regPlain, net4[:]),
	}, drop)
}

// tapAddrKey is the tap_addrs key of vm: ifname . ether_addr (padded to
// 8 bytes) . ipv4_addr.
func tapAddrKey(vm VM) []byte {
	key := ifname(vm.Tap)
	key = append(key, vm.MAC[:6]...)
	key = append(key, 0, 0)
	ip := vm.IP.As4()
	return append(key, ip[:]...)
}

// groupIDs numbers the non-empty groups of vms, in name order, from 1.
func groupIDs(vms []VM) map[string]uint32 {
	var names []string
	seen := map[string]bool{}
	for _, vm := range vms {
		if vm.Group != "" && !seen[vm.Group] {
			seen[vm.Group] = true
			names = append(names, vm.Group)
		}
	}
	sort.Strings(names)
	ids := make(map[string]uint32, len(names))
	for i, n := range names {
		ids[n] = uint32(i + 1)
	}
	return ids
}

// stableGroupIDs numbers the groups of vms keeping the numbers prev gave
// the groups still present, and giving new groups the smallest numbers not
// in use, so that a VM joining or leaving changes only its own set
// elements.
func stableGroupIDs(prev map[string]uint32, vms []VM) map[string]uint32 {
	ids := map[string]uint32{}
	used := map[uint32]bool{}
	var fresh []string
	for _, vm := range vms {
		g := vm.Group
		if _, done := ids[g]; done || g == "" {
			continue
		}
		if id, ok := prev[g]; ok {
			ids[g] = id
			used[id] = true
		} else {
			ids[g] = 0
			fresh = append(fresh, g)
		}
	}
	sort.Strings(fresh)
	next := uint32(1)
	for _, g := range fresh {
		for used[next] {
			next++
		}
		ids[g] = next
		used[next] = true
	}
	return ids
}

// prefixMask is the network mask of an IPv4 prefix length.
func prefixMask(bits int) []byte {
	m := ^uint32(0) << (32 - bits)
	return binaryutil.BigEndian.PutUint32(m)
}
