package privileged

import (
	"encoding/json"
	"net/netip"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"banger/internal/errdefs"
)

var (
	testPolicy = Policy{UID: 1000, Bridge: "banger0", CowDir: "/home/u/.local/state/banger"}
	owner1000  = caller{uid: 1000, gid: 1000}
	rootCaller = caller{uid: 0, gid: 0}
)

// seededHost is a fake with banger0 and one tap, bt-0123456789ab, down.
func seededHost(t *testing.T) *fakeHost {
	t.Helper()
	f := newFakeHost()
	if err := f.EnsureBridge("banger0", netip.MustParsePrefix("10.77.0.1/24")); err != nil {
		t.Fatal(err)
	}
	if err := f.CreateTap("bt-0123456789ab", 1000, 1000); err != nil {
		t.Fatal(err)
	}
	f.calls = nil
	return f
}

const goodSpec = `{"spec":{"bridge":"banger0","gateway":"10.77.0.1/24","dns_port":53,
	"vms":[{"tap":"bt-0123456789ab","ip":"10.77.0.2","mac":"0a:00:00:00:00:02","nat":true}]}}`

// validationCases: every method with good and bad arguments. call is the
// calls the Host sees, separated by " | ", "" when the request must be
// refused before it.
var validationCases = []struct {
	name   string
	who    caller
	method string
	args   string
	want   errdefs.Kind // "" for success
	call   string
}{
	{"bridge", owner1000, "EnsureBridge", `{"name":"banger0","addr":"10.77.0.1/24"}`, "", "RoutedPrefixes banger0 | EnsureBridge banger0 10.77.0.1/24"},
	{"bridge by root", rootCaller, "EnsureBridge", `{"name":"banger0","addr":"10.77.0.1/24"}`, "", "RoutedPrefixes banger0 | EnsureBridge banger0 10.77.0.1/24"},
	{"another bridge", owner1000, "EnsureBridge", `{"name":"docker0","addr":"10.77.0.1/24"}`, errdefs.FailedPrecondition, ""},
	{"eth0 as bridge", rootCaller, "EnsureBridge", `{"name":"eth0","addr":"10.77.0.1/24"}`, errdefs.FailedPrecondition, ""},
	{"no bridge name", owner1000, "EnsureBridge", `{"addr":"10.77.0.1/24"}`, errdefs.InvalidArgument, ""},
	{"ipv6 bridge addr", owner1000, "EnsureBridge", `{"name":"banger0","addr":"fd00::1/64"}`, errdefs.InvalidArgument, ""},
	{"no bridge addr", owner1000, "EnsureBridge", `{"name":"banger0"}`, errdefs.InvalidArgument, ""},
	{"addr without prefix", owner1000, "EnsureBridge", `{"name":"banger0","addr":"10.77.0.1"}`, errdefs.InvalidArgument, ""},
	{"unknown field", owner1000, "EnsureBridge", `{"name":"banger0","addr":"10.77.0.1/24","mtu":9000}`, errdefs.InvalidArgument, ""},
	{"args not an object", owner1000, "EnsureBridge", `["banger0"]`, errdefs.InvalidArgument, ""},
	{"half the internet", owner1000, "EnsureBridge", `{"name":"banger0","addr":"128.0.0.1/1"}`, errdefs.InvalidArgument, ""},
	{"all of it", rootCaller, "EnsureBridge", `{"name":"banger0","addr":"0.0.0.0/0"}`, errdefs.InvalidArgument, ""},
	{"a public address", owner1000, "EnsureBridge", `{"name":"banger0","addr":"8.8.8.1/24"}`, errdefs.InvalidArgument, ""},
	{"shared address space", owner1000, "EnsureBridge", `{"name":"banger0","addr":"100.64.0.1/24"}`, errdefs.InvalidArgument, ""},
	{"loopback", owner1000, "EnsureBridge", `{"name":"banger0","addr":"127.0.0.2/24"}`, errdefs.InvalidArgument, ""},
	{"link-local", owner1000, "EnsureBridge", `{"name":"banger0","addr":"169.254.0.1/24"}`, errdefs.InvalidArgument, ""},
	{"reaches past 172.16/12", owner1000, "EnsureBridge", `{"name":"banger0","addr":"172.16.0.1/11"}`, errdefs.InvalidArgument, ""},
	{"a /8", owner1000, "EnsureBridge", `{"name":"banger0","addr":"10.0.0.1/8"}`, errdefs.InvalidArgument, ""},
	{"a /30", owner1000, "EnsureBridge", `{"name":"banger0","addr":"10.77.0.1/30"}`, errdefs.InvalidArgument, ""},
	{"a /32", owner1000, "EnsureBridge", `{"name":"banger0","addr":"10.77.0.1/32"}`, errdefs.InvalidArgument, ""},
	{"a network address", owner1000, "EnsureBridge", `{"name":"banger0","addr":"10.77.0.0/24"}`, errdefs.InvalidArgument, ""},
	{"a broadcast address", owner1000, "EnsureBridge", `{"name":"banger0","addr":"10.77.0.255/24"}`, errdefs.InvalidArgument, ""},
	{"an IPv4-mapped IPv6 address", owner1000, "EnsureBridge", `{"name":"banger0","addr":"::ffff:10.77.0.1/120"}`, errdefs.InvalidArgument, ""},
	{"a /33", owner1000, "EnsureBridge", `{"name":"banger0","addr":"10.77.0.1/33"}`, errdefs.InvalidArgument, ""},
	{"bridge name with a newline", owner1000, "EnsureBridge", `{"name":"banger0\n","addr":"10.77.0.1/24"}`, errdefs.FailedPrecondition, ""},
	{"a /16", owner1000, "EnsureBridge", `{"name":"banger0","addr":"172.20.0.1/16"}`, "", "RoutedPrefixes banger0 | EnsureBridge banger0 172.20.0.1/16"},
	{"a /28", owner1000, "EnsureBridge", `{"name":"banger0","addr":"192.168.7.14/28"}`, "", "RoutedPrefixes banger0 | EnsureBridge banger0 192.168.7.14/28"},

	{"tap for self", owner1000, "CreateTap", `{"name":"bt-aaaaaaaaaaaa","uid":1000,"gid":1000}`, "", "CreateTap bt-aaaaaaaaaaaa 1000:1000"},
	{"spare for self", owner1000, "CreateTap", `{"name":"bp1a2b-0011aabb","uid":1000,"gid":1000}`, "", "CreateTap bp1a2b-0011aabb 1000:1000"},
	{"root gives a tap to anyone", rootCaller, "CreateTap", `{"name":"bt-aaaaaaaaaaaa","uid":4711,"gid":4711}`, "", "CreateTap bt-aaaaaaaaaaaa 4711:4711"},
	{"tap for root", owner1000, "CreateTap", `{"name":"bt-aaaaaaaaaaaa","uid":0,"gid":0}`, errdefs.FailedPrecondition, ""},
	{"tap for another group", owner1000, "CreateTap", `{"name":"bt-aaaaaaaaaaaa","uid":1000,"gid":0}`, errdefs.FailedPrecondition, ""},
	{"tap with no owner", owner1000, "CreateTap", `{"name":"bt-aaaaaaaaaaaa"}`, errdefs.FailedPrecondition, ""},
	{"negative owner", rootCaller, "CreateTap", `{"name":"bt-aaaaaaaaaaaa","uid":-1,"gid":0}`, errdefs.InvalidArgument, ""},
	{"no-owner uid", rootCaller, "CreateTap", `{"name":"bt-aaaaaaaaaaaa","uid":4294967295,"gid":0}`, errdefs.InvalidArgument, ""},
	{"uid that wraps to root", rootCaller, "CreateTap", `{"name":"bt-aaaaaaaaaaaa","uid":4294967296,"gid":0}`, errdefs.InvalidArgument, ""},
	{"uid that wraps to the owner", owner1000, "CreateTap", `{"name":"bt-aaaaaaaaaaaa","uid":4294968296,"gid":1000}`, errdefs.InvalidArgument, ""},
	{"gid that wraps", rootCaller, "CreateTap", `{"name":"bt-aaaaaaaaaaaa","uid":0,"gid":4294967296}`, errdefs.InvalidArgument, ""},
	{"uid past int64", owner1000, "CreateTap", `{"name":"bt-aaaaaaaaaaaa","uid":1e30,"gid":1000}`, errdefs.InvalidArgument, ""},
	{"uid as a string", owner1000, "CreateTap", `{"name":"bt-aaaaaaaaaaaa","uid":"1000","gid":1000}`, errdefs.InvalidArgument, ""},
	{"fractional uid", owner1000, "CreateTap", `{"name":"bt-aaaaaaaaaaaa","uid":1000.5,"gid":1000}`, errdefs.InvalidArgument, ""},
	{"tap name with a slash", owner1000, "CreateTap", `{"name":"bt-0123/56789ab","uid":1000,"gid":1000}`, errdefs.InvalidArgument, ""},
	{"tap name with a NUL", owner1000, "CreateTap", `{"name":"bt-0123456789a\u0000","uid":1000,"gid":1000}`, errdefs.InvalidArgument, ""},
	{"tap name too long", owner1000, "CreateTap", `{"name":"bt-0123456789abc","uid":1000,"gid":1000}`, errdefs.InvalidArgument, ""},
	{"tap name in unicode digits", owner1000, "CreateTap", `{"name":"bt-٠١٢٣٤٥٦٧٨٩ab","uid":1000,"gid":1000}`, errdefs.InvalidArgument, ""},
	{"tap named eth0", owner1000, "CreateTap", `{"name":"eth0","uid":1000,"gid":1000}`, errdefs.InvalidArgument, ""},
	{"tap named as the bridge", owner1000, "CreateTap", `{"name":"banger0","uid":1000,"gid":1000}`, errdefs.InvalidArgument, ""},
	{"uppercase tap", owner1000, "CreateTap", `{"name":"bt-0123456789AB","uid":1000,"gid":1000}`, errdefs.InvalidArgument, ""},
	{"short tap", owner1000, "CreateTap", `{"name":"bt-0123","uid":1000,"gid":1000}`, errdefs.InvalidArgument, ""},
	{"spare with _", owner1000, "CreateTap", `{"name":"bp1a2b_0011aabb","uid":1000,"gid":1000}`, errdefs.InvalidArgument, ""},
	{"spare with a short hash", owner1000, "CreateTap", `{"name":"bp1a2-00011aabb","uid":1000,"gid":1000}`, errdefs.InvalidArgument, ""},
	{"tap that exists", owner1000, "CreateTap", `{"name":"bt-0123456789ab","uid":1000,"gid":1000}`, errdefs.AlreadyExists, "CreateTap bt-0123456789ab 1000:1000"},

	{"attach", owner1000, "AttachTap", `{"tap":"bt-0123456789ab","bridge":"banger0"}`, "", "AttachTap bt-0123456789ab banger0"},
	{"attach to another bridge", owner1000, "AttachTap", `{"tap":"bt-0123456789ab","bridge":"virbr0"}`, errdefs.FailedPrecondition, ""},
	{"attach eth0", rootCaller, "AttachTap", `{"tap":"eth0","bridge":"banger0"}`, errdefs.InvalidArgument, ""},
	{"attach a missing tap", owner1000, "AttachTap", `{"tap":"bt-ffffffffffff","bridge":"banger0"}`, errdefs.NotFound, "AttachTap bt-ffffffffffff banger0"},

	{"detach", owner1000, "DetachTap", `{"tap":"bt-0123456789ab"}`, "", "DetachTap bt-0123456789ab"},
	{"detach eth0", owner1000, "DetachTap", `{"tap":"eth0"}`, errdefs.InvalidArgument, ""},
	{"detach the bridge", owner1000, "DetachTap", `{"tap":"banger0"}`, errdefs.InvalidArgument, ""},

	{"rename to a spare", owner1000, "RenameLink", `{"from":"bt-0123456789ab","to":"bp1a2b-00000000"}`, "", "RenameLink bt-0123456789ab bp1a2b-00000000"},
	{"rename eth0", rootCaller, "RenameLink", `{"from":"eth0","to":"bt-aaaaaaaaaaaa"}`, errdefs.InvalidArgument, ""},
	{"rename to eth0", owner1000, "RenameLink", `{"from":"bt-0123456789ab","to":"eth0"}`, errdefs.InvalidArgument, ""},
	{"rename to the bridge", owner1000, "RenameLink", `{"from":"bt-0123456789ab","to":"banger0"}`, errdefs.InvalidArgument, ""},
	{"rename the bridge", owner1000, "RenameLink", `{"from":"banger0","to":"bt-aaaaaaaaaaaa"}`, errdefs.InvalidArgument, ""},

	{"delete a tap", owner1000, "DeleteLink", `{"name":"bt-0123456789ab"}`, "", "DeleteLink bt-0123456789ab"},
	{"delete a spare", owner1000, "DeleteLink", `{"name":"bp1a2b-00000000"}`, "", "DeleteLink bp1a2b-00000000"},
	{"delete the bridge", owner1000, "DeleteLink", `{"name":"banger0"}`, errdefs.InvalidArgument, ""},
	{"delete eth0", rootCaller, "DeleteLink", `{"name":"eth0"}`, errdefs.InvalidArgument, ""},
	{"delete nothing", owner1000, "DeleteLink", `{}`, errdefs.InvalidArgument, ""},

	{"list taps", owner1000, "Links", `{"prefix":"bt-"}`, "", "Links bt-"},
	{"list spares", owner1000, "Links", `{"prefix":"bp1a2b-"}`, "", "Links bp1a2b-"},
	{"list everything", owner1000, "Links", `{"prefix":""}`, errdefs.InvalidArgument, ""},
	{"list by e", owner1000, "Links", `{"prefix":"e"}`, errdefs.InvalidArgument, ""},
	{"list by bp", owner1000, "Links", `{"prefix":"bp"}`, errdefs.InvalidArgument, ""},
	{"list by a tap", owner1000, "Links", `{"prefix":"bt-0"}`, errdefs.InvalidArgument, ""},

	{"bridge exists", owner1000, "LinkExists", `{"name":"banger0"}`, "", "LinkExists banger0"},
	{"tap exists", owner1000, "LinkExists", `{"name":"bt-ffffffffffff"}`, "", "LinkExists bt-ffffffffffff"},
	{"eth0 exists", owner1000, "LinkExists", `{"name":"eth0"}`, errdefs.InvalidArgument, ""},

	{"bridge index", owner1000, "LinkIndex", `{"name":"banger0"}`, "", "LinkIndex banger0"},
	{"missing tap index", owner1000, "LinkIndex", `{"name":"bt-ffffffffffff"}`, errdefs.NotFound, "LinkIndex bt-ffffffffffff"},
	{"eth0 index", owner1000, "LinkIndex", `{"name":"eth0"}`, errdefs.InvalidArgument, ""},

	{"routes but the bridge's", owner1000, "RoutedPrefixes", `{"exclude":"banger0"}`, "", "RoutedPrefixes banger0"},
	{"all routes", owner1000, "RoutedPrefixes", `{}`, "", "RoutedPrefixes "},
	{"routes but eth0's", owner1000, "RoutedPrefixes", `{"exclude":"eth0"}`, errdefs.FailedPrecondition, ""},
	{"routes but a tap's", owner1000, "RoutedPrefixes", `{"exclude":"bt-0123456789ab"}`, errdefs.FailedPrecondition, ""},

	{"forwarding", owner1000, "Forwarding", `{}`, "", "Forwarding"},
	{"forwarding without args", owner1000, "Forwarding", ``, "", "Forwarding"},
	{"forwarding with args", owner1000, "Forwarding", `{"on":true}`, errdefs.InvalidArgument, ""},

	{"forwarding on", owner1000, "SetForwarding", `{"on":true}`, "", "SetForwarding true"},
	{"forwarding off", owner1000, "SetForwarding", `{"on":false}`, "", "SetForwarding false"},
	{"forwarding unsaid", owner1000, "SetForwarding", `{}`, errdefs.InvalidArgument, ""},
	{"forwarding as a string", owner1000, "SetForwarding", `{"on":"yes"}`, errdefs.InvalidArgument, ""},
	{"forwarding null", owner1000, "SetForwarding", `{"on":null}`, errdefs.InvalidArgument, ""},
	{"forwarding as a number", owner1000, "SetForwarding", `{"on":1}`, errdefs.InvalidArgument, ""},

	{"rules", owner1000, "ApplyRules", goodSpec, "", "ApplyRules banger0 1 VMs"},
	{"no VMs", owner1000, "ApplyRules", `{"spec":{"bridge":"banger0","gateway":"10.77.0.1/24","dns_port":53}}`, "", "ApplyRules banger0 0 VMs"},
	{"rules for another bridge", owner1000, "ApplyRules", `{"spec":{"bridge":"docker0","gateway":"10.77.0.1/24","dns_port":53}}`, errdefs.FailedPrecondition, ""},
	{"invalid spec", owner1000, "ApplyRules", `{"spec":{"bridge":"banger0","gateway":"10.77.0.1/24","dns_port":53,
		"vms":[{"tap":"bt-0123456789ab","ip":"10.99.0.2","mac":"0a:00:00:00:00:02"}]}}`, errdefs.InvalidArgument, ""},
	{"rules on eth0", owner1000, "ApplyRules", `{"spec":{"bridge":"banger0","gateway":"10.77.0.1/24","dns_port":53,
		"vms":[{"tap":"eth0","ip":"10.77.0.2","mac":"0a:00:00:00:00:02"}]}}`, errdefs.InvalidArgument, ""},
	{"rules on a spare", owner1000, "ApplyRules", `{"spec":{"bridge":"banger0","gateway":"10.77.0.1/24","dns_port":53,
		"vms":[{"tap":"bp1a2b-00000000","ip":"10.77.0.2","mac":"0a:00:00:00:00:02"}]}}`, errdefs.InvalidArgument, ""},
	{"rules for half the internet", owner1000, "ApplyRules", `{"spec":{"bridge":"banger0","gateway":"128.0.0.1/1","dns_port":53}}`, errdefs.InvalidArgument, ""},
	{"rules for a public network", owner1000, "ApplyRules", `{"spec":{"bridge":"banger0","gateway":"8.8.8.1/24","dns_port":53,
		"vms":[{"tap":"bt-0123456789ab","ip":"8.8.8.8","mac":"0a:00:00:00:00:02","nat":true}]}}`, errdefs.InvalidArgument, ""},
	{"rules for a /8", owner1000, "ApplyRules", `{"spec":{"bridge":"banger0","gateway":"10.0.0.1/8","dns_port":53}}`, errdefs.InvalidArgument, ""},
	{"rules without a gateway", owner1000, "ApplyRules", `{"spec":{"bridge":"banger0","dns_port":53}}`, errdefs.InvalidArgument, ""},
	{"guests reach host ssh", owner1000, "ApplyRules", `{"spec":{"bridge":"banger0","gateway":"10.77.0.1/24","dns_port":22}}`, errdefs.InvalidArgument, ""},
	{"no dns port", owner1000, "ApplyRules", `{"spec":{"bridge":"banger0","gateway":"10.77.0.1/24"}}`, errdefs.InvalidArgument, ""},
	{"dns port past 65535", owner1000, "ApplyRules", `{"spec":{"bridge":"banger0","gateway":"10.77.0.1/24","dns_port":65589}}`, errdefs.InvalidArgument, ""},
	{"VM on the gateway", owner1000, "ApplyRules", `{"spec":{"bridge":"banger0","gateway":"10.77.0.1/24","dns_port":53,
		"vms":[{"tap":"bt-0123456789ab","ip":"10.77.0.1","mac":"0a:00:00:00:00:02"}]}}`, errdefs.InvalidArgument, ""},
	{"multicast mac", owner1000, "ApplyRules", `{"spec":{"bridge":"banger0","gateway":"10.77.0.1/24","dns_port":53,
		"vms":[{"tap":"bt-0123456789ab","ip":"10.77.0.2","mac":"01:00:5e:00:00:01"}]}}`, errdefs.InvalidArgument, ""},
	{"bad group", owner1000, "ApplyRules", `{"spec":{"bridge":"banger0","gateway":"10.77.0.1/24","dns_port":53,
		"vms":[{"tap":"bt-0123456789ab","ip":"10.77.0.2","mac":"0a:00:00:00:00:02","group":"a b;c"}]}}`, errdefs.InvalidArgument, ""},
	{"bad mac", owner1000, "ApplyRules", `{"spec":{"bridge":"banger0","gateway":"10.77.0.1/24","dns_port":53,
		"vms":[{"tap":"bt-0123456789ab","ip":"10.77.0.2","mac":"zz"}]}}`, errdefs.InvalidArgument, ""},
	{"unknown VM field", owner1000, "ApplyRules", `{"spec":{"bridge":"banger0","gateway":"10.77.0.1/24","dns_port":53,
		"vms":[{"tap":"bt-0123456789ab","ip":"10.77.0.2","mac":"0a:00:00:00:00:02","allow_host":true}]}}`, errdefs.InvalidArgument, ""},

	{"read rules", owner1000, "ReadRules", `{}`, "", "ReadRules"},
	{"read rules with args", owner1000, "ReadRules", `{"all":true}`, errdefs.InvalidArgument, ""},

	// The XFS file is mounted for the policy's uid, whoever asks.
	{"mount cow", owner1000, "MountCow", `{"state_dir":"/home/u/.local/state/banger"}`, "", "MountCow /home/u/.local/state/banger 1000"},
	{"mount cow by root", rootCaller, "MountCow", `{"state_dir":"/home/u/.local/state/banger"}`, "", "MountCow /home/u/.local/state/banger 1000"},
	{"mount another dir", owner1000, "MountCow", `{"state_dir":"/etc"}`, errdefs.FailedPrecondition, ""},
	{"mount with traversal", owner1000, "MountCow", `{"state_dir":"/home/u/.local/state/banger/../../../../etc"}`, errdefs.FailedPrecondition, ""},
	{"mount with a trailing slash", owner1000, "MountCow", `{"state_dir":"/home/u/.local/state/banger/"}`, errdefs.FailedPrecondition, ""},
	{"mount with another field", owner1000, "MountCow", `{"state_dir":"/home/u/.local/state/banger","file":"/dev/sda"}`, errdefs.InvalidArgument, ""},
	{"unmount cow", owner1000, "UnmountCow", `{"state_dir":"/home/u/.local/state/banger"}`, "", "UnmountCow /home/u/.local/state/banger 1000"},
	{"unmount another dir", owner1000, "UnmountCow", `{"state_dir":"/"}`, errdefs.FailedPrecondition, ""},
	// Asking whether it would mount is checked the same way.
	{"cow ready", owner1000, "CowReady", `{"state_dir":"/home/u/.local/state/banger"}`, "", "CowReady /home/u/.local/state/banger 1000"},
	{"cow ready by root", rootCaller, "CowReady", `{"state_dir":"/home/u/.local/state/banger"}`, "", "CowReady /home/u/.local/state/banger 1000"},
	{"cow ready for another dir", owner1000, "CowReady", `{"state_dir":"/var/lib/banger"}`, errdefs.FailedPrecondition, ""},
	{"cow ready with traversal", owner1000, "CowReady", `{"state_dir":"/home/u/.local/state/banger/.."}`, errdefs.FailedPrecondition, ""},
	{"cow ready with another field", owner1000, "CowReady", `{"state_dir":"/home/u/.local/state/banger","mount":"/etc"}`, errdefs.InvalidArgument, ""},

	// Device-mapper devices: banger's names, disks inside the state
	// directory, for the policy's uid.
	{"attach dm", owner1000, "AttachDM", `{"state_dir":"/home/u/.local/state/banger","name":"banger-0123abcd","disk":"/home/u/.local/state/banger/vms/0123abcd/root.ext4"}`, "", "AttachDM /home/u/.local/state/banger 1000 banger-0123abcd /home/u/.local/state/banger/vms/0123abcd/root.ext4"},
	{"attach dm by root", rootCaller, "AttachDM", `{"state_dir":"/home/u/.local/state/banger","name":"banger-x","disk":"/home/u/.local/state/banger/x"}`, "", "AttachDM /home/u/.local/state/banger 1000 banger-x /home/u/.local/state/banger/x"},
	{"attach dm named as lvm's", owner1000, "AttachDM", `{"state_dir":"/home/u/.local/state/banger","name":"vg0-root","disk":"/home/u/.local/state/banger/x"}`, errdefs.InvalidArgument, ""},
	{"attach dm named with a slash", owner1000, "AttachDM", `{"state_dir":"/home/u/.local/state/banger","name":"banger-../../sda","disk":"/home/u/.local/state/banger/x"}`, errdefs.InvalidArgument, ""},
	{"attach dm named only the prefix", owner1000, "AttachDM", `{"state_dir":"/home/u/.local/state/banger","name":"banger-","disk":"/home/u/.local/state/banger/x"}`, errdefs.InvalidArgument, ""},
	{"attach dm over /etc/shadow", owner1000, "AttachDM", `{"state_dir":"/home/u/.local/state/banger","name":"banger-x","disk":"/etc/shadow"}`, errdefs.InvalidArgument, ""},
	{"attach dm over a block device", owner1000, "AttachDM", `{"state_dir":"/home/u/.local/state/banger","name":"banger-x","disk":"/dev/sda"}`, errdefs.InvalidArgument, ""},
	{"attach dm with traversal", owner1000, "AttachDM", `{"state_dir":"/home/u/.local/state/banger","name":"banger-x","disk":"/home/u/.local/state/banger/../../../etc/shadow"}`, errdefs.InvalidArgument, ""},
	{"attach dm relative", owner1000, "AttachDM", `{"state_dir":"/home/u/.local/state/banger","name":"banger-x","disk":"vms/x"}`, errdefs.InvalidArgument, ""},
	{"attach dm the state dir", owner1000, "AttachDM", `{"state_dir":"/home/u/.local/state/banger","name":"banger-x","disk":"/home/u/.local/state/banger/"}`, errdefs.InvalidArgument, ""},
	{"attach dm in another state dir", owner1000, "AttachDM", `{"state_dir":"/root/.local/state/banger","name":"banger-x","disk":"/root/.local/state/banger/x"}`, errdefs.FailedPrecondition, ""},
	{"attach dm with an origin", owner1000, "AttachDM", `{"state_dir":"/home/u/.local/state/banger","name":"banger-x","disk":"/home/u/.local/state/banger/x","origin":"/dev/sda"}`, errdefs.InvalidArgument, ""},
	{"detach dm", owner1000, "DetachDM", `{"state_dir":"/home/u/.local/state/banger","name":"banger-0123abcd"}`, "", "DetachDM /home/u/.local/state/banger 1000 banger-0123abcd"},
	{"detach lvm's", owner1000, "DetachDM", `{"state_dir":"/home/u/.local/state/banger","name":"vg0-root"}`, errdefs.InvalidArgument, ""},
	{"detach dm with a disk", owner1000, "DetachDM", `{"state_dir":"/home/u/.local/state/banger","name":"banger-x","disk":"/home/u/.local/state/banger/x"}`, errdefs.InvalidArgument, ""},
	{"list dm", owner1000, "ListDM", `{"state_dir":"/home/u/.local/state/banger"}`, "", "ListDM /home/u/.local/state/banger 1000"},
	{"list dm of another dir", owner1000, "ListDM", `{"state_dir":"/"}`, errdefs.FailedPrecondition, ""},

	{"unknown method", rootCaller, "DeleteBridge", `{"name":"banger0"}`, errdefs.InvalidArgument, ""},
	{"no method", rootCaller, "", `{}`, errdefs.InvalidArgument, ""},
}

func TestValidation(t *testing.T) {
	for _, tt := range validationCases {
		t.Run(tt.name, func(t *testing.T) {
			host := seededHost(t)
			log, logs := newLogger()
			s := newServer(testPolicy, host, log, requestTimeout)
			_, err := s.handle(tt.who, request{Method: tt.method, Args: json.RawMessage(tt.args)})
			if got := errdefs.KindOf(err); got != tt.want {
				t.Errorf("kind = %q (%v), want %q", got, err, tt.want)
			}
			var want []string
			if tt.call != "" {
				want = strings.Split(tt.call, " | ")
			}
			if diff := cmp.Diff(want, host.Calls()); diff != "" {
				t.Errorf("calls that reached the host (-want +got):\n%s", diff)
			}
			refused := tt.want != "" && tt.call == ""
			if got := len(logs.find(t, "refused request", tt.who.uid)); refused && got != 1 {
				t.Errorf("%d refusal log records with uid %d, want 1", got, tt.who.uid)
			} else if !refused && got != 0 {
				t.Errorf("%d refusal log records for an allowed call", got)
			}
		})
	}
}

// TestValidationCoversEveryMethod: every Host method is served, and the
// table has an allowed and a refused case for each.
func TestValidationCoversEveryMethod(t *testing.T) {
	var hostMethods, served []string
	for _, ht := range []reflect.Type{reflect.TypeFor[Host](), reflect.TypeFor[CowMounter](), reflect.TypeFor[DMMaker]()} {
		for i := range ht.NumMethod() {
			hostMethods = append(hostMethods, ht.Method(i).Name)
		}
	}
	sort.Strings(hostMethods)
	for m := range methods {
		served = append(served, m)
	}
	sort.Strings(served)
	if diff := cmp.Diff(hostMethods, served); diff != "" {
		t.Errorf("methods served vs Host (-host +served):\n%s", diff)
	}
	ok, refused := map[string]bool{}, map[string]bool{}
	for _, tt := range validationCases {
		if tt.want == "" {
			ok[tt.method] = true
		} else if tt.call == "" {
			refused[tt.method] = true
		}
	}
	for _, m := range hostMethods {
		if !ok[m] {
			t.Errorf("no allowed case for %s", m)
		}
		if !refused[m] && m != "Forwarding" && m != "ReadRules" {
			t.Errorf("no refused case for %s", m)
		}
	}
}

func TestPolicy(t *testing.T) {
	tests := []struct {
		name   string
		policy Policy
		who    caller
		valid  errdefs.Kind
		allow  errdefs.Kind
	}{
		{"the owner", testPolicy, owner1000, "", ""},
		{"root", testPolicy, rootCaller, "", ""},
		{"another user", testPolicy, caller{uid: 65534, gid: 65534}, "", errdefs.FailedPrecondition},
		{"the owner's group is not enough", testPolicy, caller{uid: 1001, gid: 1000}, "", errdefs.FailedPrecondition},
		{"negative uid", Policy{UID: -1, Bridge: "banger0"}, rootCaller, errdefs.InvalidArgument, ""},
		{"uid past 32 bits", Policy{UID: 1 << 32, Bridge: "banger0"}, rootCaller, errdefs.InvalidArgument, ""},
		{"the no-owner uid", Policy{UID: 1<<32 - 1, Bridge: "banger0"}, rootCaller, errdefs.InvalidArgument, ""},
		{"bad bridge name", Policy{UID: 1000, Bridge: "Banger 0"}, owner1000, errdefs.InvalidArgument, ""},
		{"no bridge", Policy{UID: 1000}, owner1000, errdefs.InvalidArgument, ""},
		{"relative cow dir", Policy{UID: 1000, Bridge: "banger0", CowDir: "state"}, owner1000, errdefs.InvalidArgument, ""},
		{"unclean cow dir", Policy{UID: 1000, Bridge: "banger0", CowDir: "/var/lib/../lib/banger"}, owner1000, errdefs.InvalidArgument, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := errdefs.KindOf(tt.policy.Validate()); got != tt.valid {
				t.Errorf("Validate kind = %q, want %q", got, tt.valid)
			}
			if got := errdefs.KindOf(tt.policy.allowed(tt.who)); got != tt.allow {
				t.Errorf("allowed kind = %q, want %q", got, tt.allow)
			}
		})
	}
}

// plantedHost is seededHost with links that look like banger's but are
// not the owner's taps: another uid's tap, a veth and a tun with banger's
// names.
func plantedHost(t *testing.T) *fakeHost {
	t.Helper()
	f := seededHost(t)
	f.mu.Lock()
	defer f.mu.Unlock()
	for name, l := range map[string]*fakeLink{
		"bt-00000000aaaa": {UID: 4711, GID: 4711},
		"bt-00000000bbbb": {Kind: "veth", Up: true},
		"bp1a2b-0000cccc": {Kind: "tun", UID: 1000, GID: 1000},
	} {
		l.Index = f.nextIndex
		f.nextIndex++
		f.links[name] = l
	}
	return f
}

// TestCheckedAtChange: what only the host can tell at the time of the
// change (whose tap a link is, what kind of link, the host's routes) is
// checked then; refused changes leave the host as it was and are logged
// as refusals.
func TestCheckedAtChange(t *testing.T) {
	tests := []struct {
		name   string
		who    caller
		method string
		args   string
		want   errdefs.Kind // "" for success
	}{
		{"delete another uid's tap", owner1000, "DeleteLink", `{"name":"bt-00000000aaaa"}`, errdefs.FailedPrecondition},
		{"rename another uid's tap", owner1000, "RenameLink", `{"from":"bt-00000000aaaa","to":"bt-aaaaaaaaaaaa"}`, errdefs.FailedPrecondition},
		{"detach another uid's tap", owner1000, "DetachTap", `{"tap":"bt-00000000aaaa"}`, errdefs.FailedPrecondition},
		{"attach another uid's tap", owner1000, "AttachTap", `{"tap":"bt-00000000aaaa","bridge":"banger0"}`, errdefs.FailedPrecondition},
		{"delete a veth named as a tap", owner1000, "DeleteLink", `{"name":"bt-00000000bbbb"}`, errdefs.FailedPrecondition},
		{"rename a veth named as a tap", owner1000, "RenameLink", `{"from":"bt-00000000bbbb","to":"bp1a2b-00000001"}`, errdefs.FailedPrecondition},
		{"detach a veth named as a tap", owner1000, "DetachTap", `{"tap":"bt-00000000bbbb"}`, errdefs.FailedPrecondition},
		{"attach a veth named as a tap", owner1000, "AttachTap", `{"tap":"bt-00000000bbbb","bridge":"banger0"}`, errdefs.FailedPrecondition},
		{"delete the owner's tun", owner1000, "DeleteLink", `{"name":"bp1a2b-0000cccc"}`, errdefs.FailedPrecondition},
		{"root deletes a veth named as a tap", rootCaller, "DeleteLink", `{"name":"bt-00000000bbbb"}`, errdefs.FailedPrecondition},
		{"root deletes another uid's tap", rootCaller, "DeleteLink", `{"name":"bt-00000000aaaa"}`, ""},
		{"the owner deletes its tap", owner1000, "DeleteLink", `{"name":"bt-0123456789ab"}`, ""},
		{"the owner renames its tap", owner1000, "RenameLink", `{"from":"bt-0123456789ab","to":"bp1a2b-00000001"}`, ""},
		{"the owner attaches its tap", owner1000, "AttachTap", `{"tap":"bt-0123456789ab","bridge":"banger0"}`, ""},
		{"a bridge on the host's LAN", owner1000, "EnsureBridge", `{"name":"banger0","addr":"192.168.1.77/24"}`, errdefs.FailedPrecondition},
		{"a bridge around the host's LAN", owner1000, "EnsureBridge", `{"name":"banger0","addr":"192.168.0.1/16"}`, errdefs.FailedPrecondition},
		{"a bridge inside the host's LAN", owner1000, "EnsureBridge", `{"name":"banger0","addr":"192.168.1.129/25"}`, errdefs.FailedPrecondition},
		{"a bridge next to the host's LAN", owner1000, "EnsureBridge", `{"name":"banger0","addr":"192.168.2.1/24"}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			host := plantedHost(t)
			before := host.state()
			log, logs := newLogger()
			s := newServer(testPolicy, host, log, requestTimeout)
			_, err := s.handle(tt.who, request{Method: tt.method, Args: json.RawMessage(tt.args)})
			if got := errdefs.KindOf(err); got != tt.want {
				t.Fatalf("kind = %q (%v), want %q", got, err, tt.want)
			}
			refusals := len(logs.find(t, "refused request", tt.who.uid))
			if tt.want == "" {
				if diff := cmp.Diff(before, host.state(), cmpNet); diff == "" {
					t.Error("an allowed change left the host as it was")
				}
				if refusals != 0 {
					t.Errorf("%d refusal log records for an allowed call", refusals)
				}
				return
			}
			if diff := cmp.Diff(before, host.state(), cmpNet); diff != "" {
				t.Errorf("a refused change changed the host (-before +after):\n%s", diff)
			}
			if refusals != 1 {
				t.Errorf("%d refusal log records with uid %d, want 1", refusals, tt.who.uid)
			}
		})
	}
}

// TestAttachToAnotherBridge: a bridge of the right name that banger did
// not make gets no taps.
func TestAttachToAnotherBridge(t *testing.T) {
	host := seededHost(t)
	host.links["banger0"].Alias = "docker"
	before := host.state()
	s := newServer(testPolicy, host, nil, requestTimeout)
	_, err := s.handle(owner1000, request{Method: "AttachTap", Args: json.RawMessage(`{"tap":"bt-0123456789ab","bridge":"banger0"}`)})
	if errdefs.KindOf(err) != errdefs.FailedPrecondition || !strings.Contains(err.Error(), "not a bridge banger made") {
		t.Errorf("attach to a bridge banger did not make: %v, want a failed_precondition saying so", err)
	}
	if diff := cmp.Diff(before, host.state(), cmpNet); diff != "" {
		t.Errorf("host changed (-before +after):\n%s", diff)
	}
}

// A helper started without --cow-dir mounts nothing.
func TestNoCowDirMountsNothing(t *testing.T) {
	host := seededHost(t)
	log, _ := newLogger()
	p := testPolicy
	p.CowDir = ""
	s := newServer(p, host, log, requestTimeout)
	_, err := s.handle(owner1000, request{Method: "MountCow", Args: json.RawMessage(`{"state_dir":"/home/u/.local/state/banger"}`)})
	if !errdefs.Is(err, errdefs.FailedPrecondition) || !strings.Contains(err.Error(), "--cow-dir") {
		t.Errorf("MountCow without --cow-dir: %v, want failed precondition naming --cow-dir", err)
	}
	_, err = s.handle(owner1000, request{Method: "CowReady", Args: json.RawMessage(`{"state_dir":"/home/u/.local/state/banger"}`)})
	if !errdefs.Is(err, errdefs.FailedPrecondition) || !strings.Contains(err.Error(), "--cow-dir") {
		t.Errorf("CowReady without --cow-dir: %v, want failed precondition naming --cow-dir", err)
	}
	if calls := host.Calls(); len(calls) != 0 {
		t.Errorf("calls reached the host: %v", calls)
	}
}
