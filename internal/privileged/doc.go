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
// own bridge, its taps, its firewall tables and the mount of the XFS file
// of the one state directory it is told (--cow-dir; see CowMounter).
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
//	MountCow       {"state_dir"}                             null
//	UnmountCow     {"state_dir"}                             null
//	AttachDM       {"state_dir", "name", "disk"}             "/dev/mapper/banger-…"
//	DetachDM       {"state_dir", "name"}                     null
//	ListDM         {"state_dir"}                             ["banger-…", …]
//
// # Policy
//
// The socket belongs to Policy.UID with mode 0600 (Listen), so no other
// user can connect; the caller's uid is checked again with SO_PEERCRED,
// before anything is read: only Policy.UID and root are served. A refused
// connection is answered with one error line and closed, and logged at
// most once per uid per minute with a count of the others.
//
// Every argument is checked in the helper itself, never trusting the
// daemon's validation:
//
//   - bridges must be Policy.Bridge;
//   - taps must be named as banger's ("bt-" and 12 lowercase hex digits
//     for a VM's tap, "bp", 4 hex digits, "-" and 8 hex digits for a
//     spare), and are made only for the caller (uid and gid), unless the
//     caller is root; uids and gids are 0 to 2^32-2;
//   - a bridge address must pass the config's rules for network.subnet
//     (package subnet): a host address, neither network nor broadcast, of
//     a prefix of /16 to /28 inside 10.0.0.0/8, 172.16.0.0/12 or
//     192.168.0.0/16; and its network must not overlap any prefix the host
//     routes, read from the routing table at the time of the request,
//     leaving out the routes of Policy.Bridge itself;
//   - a link is attached, detached, renamed or deleted only if, when the
//     helper changes it, the kernel says it is a tap (a tuntap in tap mode;
//     no other kind of link, whatever its name) owned by the caller's uid
//     (root may change any tap), and a tap is attached only to a bridge
//     banger made (its alias is netlink.BridgeAlias). The link is looked
//     up once and changed by index, so a rename in between cannot redirect
//     the change. Only root can set a tap's owner, and the helper sets it
//     to the caller when it makes a tap, so a caller changes only the taps
//     made for it;
//   - firewall specs must be on Policy.Bridge, have a gateway that passes
//     the bridge address rules, open only port 53 (DNS) to guests, pass
//     Spec.Validate and name only VM taps;
//   - CowReady, MountCow and UnmountCow take only Policy.CowDir
//     (--cow-dir); CowReady does nothing but answer. MountCow and
//     UnmountCow work for Policy.UID whoever calls: cow.MountChecked opens the
//     directory, its cow.xfs and its cow/ mount point without following
//     links and checks them on the descriptors (owned by Policy.UID, not
//     writable by others, the file regular with one link, nothing mounted
//     yet), attaches the loop device to the open file and mounts on the open
//     directory (nosuid, nodev, noexec); cow.UnmountChecked unmounts only a
//     mount whose device is the loop device of that file. The XFS image is
//     the user's file: mounting it exposes the kernel's XFS code to a
//     filesystem the user could have crafted, so --cow-dir is opt-in.
//   - AttachDM, DetachDM and ListDM (the dm disk strategy) also take only
//     Policy.CowDir and work for Policy.UID; a device name must be
//     "banger-" then letters, digits, '.', '_' or '-' (cow.CheckDMName),
//     and a disk a clean absolute path inside the state directory.
//     cow.AttachChecked opens the state directory, the disk (the COW
//     file), its ".origin" record and the origin it names beneath the
//     directory with openat2 (no symlink, no other filesystem), checks them
//     on the descriptors (regular, owned by Policy.UID, not writable by
//     others, the COW file with one link), attaches loop devices to the
//     open files (the origin read-only) and makes the snapshot device with
//     a uuid that marks it as that state directory's; its node
//     /dev/mapper/<name> is made by the helper, owned by Policy.UID, mode
//     0600. DetachDM removes only a device with that uuid.
//
// Every refusal is logged with the caller's uid and nothing is done.
package privileged
