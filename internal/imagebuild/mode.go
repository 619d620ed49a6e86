package imagebuild

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/user"
	"strconv"
	"strings"

	"banger/internal/errdefs"
)

// Mode is how a build gets the privileges that installing packages and
// recording file owners need.
type Mode int

const (
	// ModeRoot runs mmdebstrap --mode=root and mkfs.ext4 as real root.
	ModeRoot Mode = iota
	// ModeUnshare runs the bootstrap and mkfs.ext4 as root of a user
	// namespace: the calling user is root inside, and ids 1-65535 map to
	// the user's subordinate ids, so the image records the same owners
	// as a root build.
	ModeUnshare
)

func (m Mode) String() string {
	if m == ModeUnshare {
		return "unshare"
	}
	return "root"
}

// nsIDs is how many ids besides root the namespace maps: 1-65535, which
// covers every system user and nobody/nogroup (65534).
const nsIDs = 65535

// idRange is a range of subordinate ids from /etc/subuid or /etc/subgid.
type idRange struct {
	Start, Count uint64
}

// idMap is a user namespace's mapping: inside id 0 is the host's UID and
// GID, inside ids 1-65535 are Sub{UID,GID}.Start onwards.
type idMap struct {
	UID, GID       int
	SubUID, SubGID uint64
}

// parseSubIDs returns the ranges /etc/subuid-format text r gives the user
// called name with numeric id id (entries may name either).
func parseSubIDs(r io.Reader, name string, id int) ([]idRange, error) {
	var out []idRange
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, ":")
		if len(f) != 3 || (f[0] != name && f[0] != strconv.Itoa(id)) {
			continue
		}
		start, err1 := strconv.ParseUint(f[1], 10, 32)
		count, err2 := strconv.ParseUint(f[2], 10, 32)
		if err1 != nil || err2 != nil || count == 0 {
			continue // newuidmap skips such lines too
		}
		out = append(out, idRange{Start: start, Count: count})
	}
	return out, sc.Err()
}

// fitRange returns the first range with room for nsIDs ids.
func fitRange(rs []idRange) (idRange, bool) {
	for _, r := range rs {
		if r.Count >= nsIDs {
			return r, true
		}
	}
	return idRange{}, false
}

// hostFacts is what the mode choice looks at, read by readHostFacts.
type hostFacts struct {
	EUID, UID, GID int
	User           string // login name of UID, "" if it has none
	SubUID, SubGID []idRange
	SubUIDErr      error // reading /etc/subuid failed (absent counts as empty)
	SubGIDErr      error
	MaxUserNS      int      // user.max_user_namespaces; -1 if unknown
	UnprivClone    int      // kernel.unprivileged_userns_clone (Debian); -1 if absent
	AppArmorUserNS int      // kernel.apparmor_restrict_unprivileged_userns; -1 if absent
	Missing        []string // helper programs not installed
}

// readHostFacts reads the running process's ids, its subordinate ids,
// the sysctls that govern user namespaces and the helper programs an
// unshare build runs.
func readHostFacts(find func(string) (string, error)) hostFacts {
	h := hostFacts{EUID: os.Geteuid(), UID: os.Getuid(), GID: os.Getgid()}
	if u, err := user.LookupId(strconv.Itoa(h.UID)); err == nil {
		h.User = u.Username
	}
	h.SubUID, h.SubUIDErr = readSubIDs("/etc/subuid", h.User, h.UID)
	h.SubGID, h.SubGIDErr = readSubIDs("/etc/subgid", h.User, h.UID)
	h.MaxUserNS = readSysctl("/proc/sys/user/max_user_namespaces")
	h.UnprivClone = readSysctl("/proc/sys/kernel/unprivileged_userns_clone")
	h.AppArmorUserNS = readSysctl("/proc/sys/kernel/apparmor_restrict_unprivileged_userns")
	for _, p := range []struct{ name, pkg string }{
		{"newuidmap", "uidmap"}, {"newgidmap", "uidmap"}, {"unshare", "util-linux"},
	} {
		if _, err := find(p.name); err != nil {
			h.Missing = append(h.Missing, p.name+" ("+p.pkg+")")
		}
	}
	return h
}

func readSubIDs(path, name string, id int) ([]idRange, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseSubIDs(f, name, id)
}

func readSysctl(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return -1
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return -1
	}
	return n
}

// chooseMode picks root mode for root and unshare mode for anyone else
// whose host allows it. Otherwise the FailedPrecondition error lists
// every missing piece with the command that supplies it, and fix is those
// commands alone (doctor shows them).
func chooseMode(h hostFacts) (mode Mode, ids idMap, fix string, err error) {
	if h.EUID == 0 {
		return ModeRoot, idMap{}, "", nil
	}
	who := fmt.Sprintf("uid %d", h.UID)
	name := h.User
	if name != "" {
		who += " (" + name + ")"
	} else {
		name = strconv.Itoa(h.UID)
	}
	var p, fixes []string
	add := func(what, fix string) {
		p = append(p, what+": run \""+fix+"\"")
		for _, f := range fixes {
			if f == fix {
				return
			}
		}
		fixes = append(fixes, fix)
	}
	switch {
	case h.MaxUserNS == 0:
		add("user namespaces are disabled (user.max_user_namespaces is 0)", "sudo sysctl -w user.max_user_namespaces=15000")
	case h.UnprivClone == 0:
		add("unprivileged user namespaces are disabled (kernel.unprivileged_userns_clone is 0)", "sudo sysctl -w kernel.unprivileged_userns_clone=1")
	}
	if h.AppArmorUserNS == 1 {
		add("AppArmor restricts unprivileged user namespaces (kernel.apparmor_restrict_unprivileged_userns is 1)", "sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0")
	}
	if len(h.Missing) > 0 {
		add(strings.Join(h.Missing, " and ")+" not installed", "sudo apt-get install uidmap util-linux")
	}
	usermod := "sudo usermod --add-subuids 100000-165535 --add-subgids 100000-165535 " + name
	sub, okU := fitRange(h.SubUID)
	subg, okG := fitRange(h.SubGID)
	files := []struct {
		file   string
		err    error
		ranges []idRange
		ok     bool
	}{{"/etc/subuid", h.SubUIDErr, h.SubUID, okU}, {"/etc/subgid", h.SubGIDErr, h.SubGID, okG}}
	if h.SubUIDErr == nil && h.SubGIDErr == nil && len(h.SubUID) == 0 && len(h.SubGID) == 0 {
		add("/etc/subuid and /etc/subgid have no subordinate ids for "+name+" (any free range of 65536 ids will do)", usermod)
		files = nil
	}
	for _, f := range files {
		switch {
		case f.err != nil:
			add(fmt.Sprintf("cannot read %s: %v", f.file, f.err), "sudo chmod 0644 "+f.file)
		case len(f.ranges) == 0:
			add(fmt.Sprintf("%s has no subordinate ids for %s", f.file, name), usermod)
		case !f.ok:
			add(fmt.Sprintf("%s gives %s no range of %d ids (the image's system users need ids 1-%d)", f.file, name, nsIDs, nsIDs), usermod)
		}
	}
	if len(p) > 0 {
		return ModeRoot, idMap{}, strings.Join(fixes, " && ") + " (or run bangerd as root)", errdefs.FailedPreconditionf(
			"building an image as %s needs root or a user namespace with subordinate ids: %s; or run bangerd as root",
			who, strings.Join(p, "; "))
	}
	return ModeUnshare, idMap{UID: h.UID, GID: h.GID, SubUID: sub.Start, SubGID: subg.Start}, "", nil
}
