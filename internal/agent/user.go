package agent

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
)

// guestUser is who a command runs as when its request names a user.
type guestUser struct {
	name     string // "" when given by number and not in /etc/passwd
	uid, gid uint32
	groups   []uint32 // supplementary groups from /etc/group
	home     string
}

// lookupUser resolves spec ("name", "uid", "name:group", "uid:gid", as an
// OCI image's User says it) against the passwd and group files, the way
// container runtimes do: a name must exist; a number need not, and then
// runs with group spec's gid or 0 and home /.
func lookupUser(spec, passwdFile, groupFile string) (guestUser, error) {
	userPart, groupPart, hasGroup := strings.Cut(spec, ":")
	if userPart == "" || (hasGroup && groupPart == "") {
		return guestUser{}, fmt.Errorf("user %q: want name, uid, name:group or uid:gid", spec)
	}
	passwd, err := readColonFile(passwdFile)
	if err != nil {
		return guestUser{}, err
	}
	u := guestUser{home: "/"}
	found := false
	num, numErr := strconv.ParseUint(userPart, 10, 32)
	for _, f := range passwd {
		if len(f) < 6 {
			continue
		}
		if f[0] == userPart || (numErr == nil && f[2] == userPart) {
			uid, err1 := strconv.ParseUint(f[2], 10, 32)
			gid, err2 := strconv.ParseUint(f[3], 10, 32)
			if err1 != nil || err2 != nil {
				continue
			}
			u.name, u.uid, u.gid, u.home, found = f[0], uint32(uid), uint32(gid), f[5], true
			break
		}
	}
	if !found {
		if numErr != nil {
			return guestUser{}, fmt.Errorf("user %q is not in the guest's %s", userPart, passwdFile)
		}
		u.uid = uint32(num)
	}
	groups, err := readColonFile(groupFile)
	if err != nil {
		return guestUser{}, err
	}
	if hasGroup {
		gid, err := strconv.ParseUint(groupPart, 10, 32)
		if err != nil {
			gid, err = groupID(groups, groupPart)
			if err != nil {
				return guestUser{}, fmt.Errorf("user %q: %w", spec, err)
			}
		}
		u.gid = uint32(gid)
	}
	if u.name != "" {
		for _, g := range groups {
			if len(g) < 4 {
				continue
			}
			for _, m := range strings.Split(g[3], ",") {
				if m == u.name {
					if gid, err := strconv.ParseUint(g[2], 10, 32); err == nil && uint32(gid) != u.gid {
						u.groups = append(u.groups, uint32(gid))
					}
				}
			}
		}
	}
	return u, nil
}

func groupID(groups [][]string, name string) (uint64, error) {
	for _, g := range groups {
		if len(g) >= 3 && g[0] == name {
			return strconv.ParseUint(g[2], 10, 32)
		}
	}
	return 0, fmt.Errorf("group %q is not in the guest's group file", name)
}

// readColonFile reads a passwd-style file as fields; a missing file is
// empty.
func readColonFile(p string) ([][]string, error) {
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out [][]string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		out = append(out, strings.Split(line, ":"))
	}
	return out, sc.Err()
}

// userEnv sets HOME, USER and LOGNAME for u unless the request's own
// environment sets them.
func userEnv(env, reqEnv []string, u guestUser) []string {
	set := map[string]bool{}
	for _, kv := range reqEnv {
		k, _, _ := strings.Cut(kv, "=")
		set[k] = true
	}
	name := u.name
	if name == "" {
		name = strconv.FormatUint(uint64(u.uid), 10)
	}
	for _, kv := range []string{"HOME=" + u.home, "USER=" + name, "LOGNAME=" + name} {
		k, _, _ := strings.Cut(kv, "=")
		if !set[k] {
			env = setEnv(env, k, kv)
		}
	}
	return env
}
