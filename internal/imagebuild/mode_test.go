package imagebuild

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"banger/internal/errdefs"
)

func TestParseSubIDs(t *testing.T) {
	const file = `# comment
root:200000:65536
alice:100000:65536

alice:300000:1000
1000:400000:65536
bob:500000:65536
alice:bad:65536
alice:600000:0
alice:700000
`
	got, err := parseSubIDs(strings.NewReader(file), "alice", 1000)
	if err != nil {
		t.Fatal(err)
	}
	want := []idRange{{100000, 65536}, {300000, 1000}, {400000, 65536}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ranges for alice (-want +got):\n%s", diff)
	}
	got, _ = parseSubIDs(strings.NewReader(file), "carol", 1001)
	if len(got) != 0 {
		t.Errorf("ranges for carol = %v, want none", got)
	}
	got, _ = parseSubIDs(strings.NewReader(file), "", 1000) // a uid without a name
	if diff := cmp.Diff([]idRange{{400000, 65536}}, got); diff != "" {
		t.Errorf("ranges for uid 1000 without a name (-want +got):\n%s", diff)
	}
}

func TestFitRange(t *testing.T) {
	if r, ok := fitRange([]idRange{{300000, 1000}, {100000, 65535}}); !ok || r.Start != 100000 {
		t.Errorf("fitRange = %v %v, want the 65535-id range", r, ok)
	}
	if _, ok := fitRange([]idRange{{300000, 65534}}); ok {
		t.Errorf("fitRange accepted a range of 65534 ids (nobody, 65534, would be unmapped)")
	}
}

// goodHost is an ordinary user on a host that allows an unshare build.
func goodHost() hostFacts {
	return hostFacts{
		EUID: 1000, UID: 1000, GID: 1001, User: "alice",
		SubUID:    []idRange{{100000, 65536}},
		SubGID:    []idRange{{200000, 65536}},
		MaxUserNS: 15000, UnprivClone: -1, AppArmorUserNS: -1,
	}
}

func TestChooseMode(t *testing.T) {
	root := goodHost()
	root.EUID = 0
	root.SubUID, root.SubGID = nil, nil
	mode, _, _, err := chooseMode(root)
	if err != nil || mode != ModeRoot {
		t.Errorf("chooseMode(root) = %v, %v; want root mode", mode, err)
	}

	mode, ids, _, err := chooseMode(goodHost())
	if err != nil || mode != ModeUnshare {
		t.Fatalf("chooseMode(user) = %v, %v; want unshare mode", mode, err)
	}
	if want := (idMap{UID: 1000, GID: 1001, SubUID: 100000, SubGID: 200000}); ids != want {
		t.Errorf("ids = %+v, want %+v", ids, want)
	}
	wantArgs := []string{"/usr/bin/unshare", "--map-users=100000,1,65535", "--map-groups=200000,1,65535",
		"--map-root-user", "--mount", "--pid", "--fork", "--kill-child", "--"}
	if diff := cmp.Diff(wantArgs, ids.nsArgs("/usr/bin/unshare")); diff != "" {
		t.Errorf("nsArgs (-want +got):\n%s", diff)
	}
}

func TestChooseModeErrors(t *testing.T) {
	const usermod = `"sudo usermod --add-subuids 100000-165535 --add-subgids 100000-165535 alice"`
	tests := []struct {
		name   string
		change func(*hostFacts)
		want   []string // every one must be in the message
		not    []string
		fix    string
	}{
		{"no subuids", func(h *hostFacts) { h.SubUID = nil },
			[]string{"uid 1000 (alice)", "/etc/subuid has no subordinate ids for alice: run " + usermod, "or run bangerd as root"},
			[]string{"/etc/subgid"}, usermod[1:len(usermod)-1] + " (or run bangerd as root)"},
		{"no subids at all", func(h *hostFacts) { h.SubUID, h.SubGID = nil, nil },
			[]string{"/etc/subuid and /etc/subgid have no subordinate ids for alice (any free range of 65536 ids will do): run " + usermod}, []string{"/etc/subuid has"},
			usermod[1:len(usermod)-1] + " (or run bangerd as root)"},
		{"range too small", func(h *hostFacts) { h.SubGID = []idRange{{200000, 1000}} },
			[]string{"/etc/subgid gives alice no range of 65535 ids", usermod}, []string{"/etc/subuid"}, ""},
		{"unreadable", func(h *hostFacts) { h.SubUIDErr = errors.New("permission denied") },
			[]string{"cannot read /etc/subuid: permission denied"}, nil, "sudo chmod 0644 /etc/subuid (or run bangerd as root)"},
		{"no name", func(h *hostFacts) { h.User = ""; h.SubUID = nil },
			[]string{"uid 1000 needs", "--add-subgids 100000-165535 1000\""}, nil, ""},
		{"namespaces off", func(h *hostFacts) { h.MaxUserNS = 0 },
			[]string{"user.max_user_namespaces is 0", "sudo sysctl -w user.max_user_namespaces=15000"}, []string{"usermod"}, ""},
		{"debian clone off", func(h *hostFacts) { h.UnprivClone = 0 },
			[]string{"sudo sysctl -w kernel.unprivileged_userns_clone=1"}, nil, ""},
		{"apparmor", func(h *hostFacts) { h.AppArmorUserNS = 1 },
			[]string{"kernel.apparmor_restrict_unprivileged_userns=0"}, nil, ""},
		{"no uidmap", func(h *hostFacts) { h.Missing = []string{"newuidmap (uidmap)", "newgidmap (uidmap)"} },
			[]string{"newuidmap (uidmap) and newgidmap (uidmap) not installed", "apt-get install uidmap"}, nil, ""},
		{"everything", func(h *hostFacts) {
			h.MaxUserNS, h.SubUID, h.Missing = 0, nil, []string{"newuidmap (uidmap)"}
		}, []string{"max_user_namespaces", "/etc/subuid has no", "newuidmap"}, nil,
			"sudo sysctl -w user.max_user_namespaces=15000 && sudo apt-get install uidmap util-linux && " + usermod[1:len(usermod)-1] + " (or run bangerd as root)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := goodHost()
			tt.change(&h)
			_, _, fix, err := chooseMode(h)
			if errdefs.KindOf(err) != errdefs.FailedPrecondition {
				t.Fatalf("chooseMode = %v (%s), want FailedPrecondition", err, errdefs.KindOf(err))
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\nlacks %q", err, w)
				}
			}
			if tt.fix != "" && fix != tt.fix {
				t.Errorf("fix = %q, want %q", fix, tt.fix)
			}
			for _, n := range tt.not {
				if strings.Contains(err.Error(), n) {
					t.Errorf("error %q\nmentions %q, which is not missing", err, n)
				}
			}
		})
	}
}

func TestCheckToolsUnshare(t *testing.T) {
	only := func(names ...string) func(string) (string, error) {
		return func(n string) (string, error) {
			for _, m := range names {
				if n == m {
					return "/usr/sbin/" + n, nil
				}
			}
			return "", errdefs.FailedPreconditionf("%s missing", n)
		}
	}
	all := only("mmdebstrap", "mkfs.ext4", "tune2fs", "debugfs", "unshare")
	tl, err := checkTools(all, ModeUnshare)
	if err != nil || tl.debugfs != "/usr/sbin/debugfs" || tl.unshare != "/usr/sbin/unshare" {
		t.Errorf("checkTools(unshare) = %+v, %v", tl, err)
	}
	_, err = checkTools(only("debootstrap", "mkfs.ext4", "tune2fs", "debugfs", "unshare"), ModeUnshare)
	if err == nil || !strings.Contains(err.Error(), "mmdebstrap (debootstrap needs root)") {
		t.Errorf("checkTools(unshare, debootstrap only) = %v, want mmdebstrap asked for", err)
	}
	if _, err := checkTools(only("debootstrap", "mkfs.ext4", "tune2fs"), ModeRoot); err != nil {
		t.Errorf("checkTools(root, debootstrap) = %v, want it accepted", err)
	}
	_, err = checkTools(only("mmdebstrap", "mkfs.ext4", "tune2fs"), ModeUnshare)
	if err == nil || !strings.Contains(err.Error(), "debugfs and unshare") {
		t.Errorf("checkTools(unshare, no debugfs) = %v", err)
	}
}

func TestDevNodes(t *testing.T) {
	script := devNodesScript()
	for _, want := range []string{"cd /dev\n", "mknod null c 1 3\nset_inode_field null mode 020666\n", "mknod console c 5 1\n"} {
		if !strings.Contains(script, want) {
			t.Errorf("script lacks %q:\n%s", want, script)
		}
	}
	listing := []string{
		"     14   40755 (2)      0      0    4096  2-Jul-2026 19:05 .",
		"     16  120777 (7)      0      0      13  3-Dec-2026 08:59 fd",
	}
	for i, name := range []string{"console", "full", "null", "ptmx", "random", "tty", "urandom", "zero"} {
		listing = append(listing, "     "+string(rune('a'+i))+"   20666 (3)      0      0       0  3-Dec-2026 08:59 "+name)
	}
	if err := checkDevNodes(listing); err != nil {
		t.Errorf("checkDevNodes(complete) = %v", err)
	}
	listing[3] = "     17   20000 (3)      0      0       0  3-Dec-2026 08:59 full"
	if err := checkDevNodes(listing); err == nil || !strings.Contains(err.Error(), "/dev/full") {
		t.Errorf("checkDevNodes(full with mode 0) = %v, want an error naming /dev/full", err)
	}
}

func TestUnshareHelp(t *testing.T) {
	old := " -r, --map-root-user       map current user to root (implies --user)\n"
	if err := unshareHelpOK("/usr/bin/unshare", old); errdefs.KindOf(err) != errdefs.FailedPrecondition || !strings.Contains(err.Error(), "util-linux 2.38") {
		t.Errorf("unshare without --map-users: %v", err)
	}
	cur := old + " --map-users=<outeruid>,<inneruid>,<count>\n --map-groups=<outergid>,<innergid>,<count>\n"
	if err := unshareHelpOK("/usr/bin/unshare", cur); err != nil {
		t.Errorf("unshare with --map-users: %v", err)
	}
}

// TestBuildWithoutRootOrSubIDs: an ordinary user with no subordinate ids
// gets the error that names the fix, before anything is created.
func TestBuildWithoutRootOrSubIDs(t *testing.T) {
	h := goodHost()
	h.SubUID, h.SubGID = nil, nil
	o := Options{AgentBinary: "/nonexistent/banger-agent", WorkDir: t.TempDir() + "/images"}
	_, err := buildAs(context.Background(), o, findTool, h, nil)
	if errdefs.KindOf(err) != errdefs.FailedPrecondition || !strings.Contains(err.Error(), "sudo usermod --add-subuids") {
		t.Fatalf("build = %v, want FailedPrecondition naming usermod", err)
	}
	if _, err := os.Stat(o.WorkDir); err == nil {
		t.Errorf("work dir was created before the checks passed")
	}
}
