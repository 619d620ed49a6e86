// Package firewall makes the kernel's nftables rules for banger's bridge
// match a declarative Spec: egress NAT for the VMs that ask for it, VM-to-VM
// isolation unless two VMs share a group, anti-spoofing on every tap, and a
// host reachable from guests only on the DNS port. It owns two tables named
// "banger" (families inet and bridge) in the calling process's network
// namespace and replaces both in one atomic netlink batch.
//
// It is a host adapter: it decides nothing about which VMs exist, never
// touches links, addresses or sysctls, and never runs nft or iptables.
package firewall
