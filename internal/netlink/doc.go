// Package netlink is banger's host adapter for network links: it makes and
// removes the bridge and the per-VM taps, attaches and renames them, lists
// links, reads the host's routed prefixes and toggles IPv4 forwarding, all
// through netlink (github.com/vishvananda/netlink) and /proc, in the
// network namespace of the calling process.
//
// It decides nothing: which names, addresses and owners to use, when to
// pool taps and whether a prefix clashes are the caller's choices. It must
// not run `ip` or parse any command's output, and must not touch firewall
// rules, which belong to the firewall adapter.
package netlink
