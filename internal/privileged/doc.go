// Package privileged is bangerd's root helper: a narrow executor of the
// host networking work that needs root (bridge, taps, IPv4 forwarding,
// banger's nftables tables), served to the unprivileged daemon over a unix
// socket, and the daemon's client of it.
//
// Host is the one interface the daemon uses for that work. Local does it
// in-process through the netlink and firewall adapters (bangerd running as
// root); Client asks a helper started with `bangerd --root-helper`, whose
// Serve checks every request against a Policy before Local (or any Host)
// sees it. It owns the wire format and the checks; it decides nothing about
// which VMs exist, and must not run commands or touch anything but banger's
// own bridge, its taps and its firewall tables.
//
// # Wire format
//
// One JSON request per connection, at most 1 MiB, sent within 10 s of
// connecting; the helper answers once and closes the connection:
//
//	{"method": "CreateTap", "args": {"name": "bt-0123456789ab", "uid": 1000, "gid": 1000}}
//
// and answers either
//
//	{"result": ...}
//	{"error": {"code": "invalid_argument", "message": "..."}}
//
// where code is one of the errdefs kinds, so that errdefs.KindOf gives the
// same answer on both sides. Unknown methods and unknown fields (at any
// depth) are refused. The methods and their arguments and results are
// those of Host:
//
//	EnsureBridge   {"name", "addr": "10.77.0.1/24"}          null
//	CreateTap      {"name", "uid", "gid"}                    null
//	AttachTap      {"tap", "bridge"}                         null
//	DetachTap      {"tap"}                                   null
//	RenameLink     {"from", "to"}                            null
//	DeleteLink     {"name"}                                  null
//	Links          {"prefix"}                                ["bt-…", …]
//	LinkExists     {"name"}                                  true
//	LinkIndex      {"name"}                                  7
//	RoutedPrefixes {"exclude"}                               ["192.168.1.0/24", …]
//	Forwarding     {}                                        true
//	SetForwarding  {"on"}                                    null
//	ApplyRules     {"spec": {"bridge", "gateway", "dns_port", "vms": [{"tap", "ip", "mac", "nat", "group"}]}}  null
//	ReadRules      {}                                        {"present", "chains", "rules", "nat_vms"}
//
// # Policy
//
// The caller's uid comes from SO_PEERCRED: only Policy.UID and root are
// served. Bridge arguments must be Policy.Bridge; taps must be banger's
// ("bt-" and 12 lowercase hex digits for a VM's tap, "bp", 4 hex digits,
// "-" and 8 hex digits for a spare); links are renamed and deleted only
// between and on such taps; a tap is owned by the caller unless the caller
// is root; firewall specs must pass Spec.Validate and name only such taps.
// Every refusal is logged with the caller's uid and nothing is done.
package privileged
