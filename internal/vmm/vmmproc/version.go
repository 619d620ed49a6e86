package vmmproc

import (
	"fmt"
	"strconv"
	"strings"
)

// Version is a VMM release number. Pre is a pre-release or build suffix
// such as "dev" or "rc1" (Firecracker's "v1.8.0-dev"); it does not take
// part in comparisons.
type Version struct {
	Major, Minor, Patch int
	Pre                 string
}

// String returns "major.minor.patch", with "-pre" when there is a suffix.
func (v Version) String() string {
	s := fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch)
	if v.Pre != "" {
		s += "-" + v.Pre
	}
	return s
}

// AtLeast reports whether v is o or newer.
func (v Version) AtLeast(o Version) bool {
	if v.Major != o.Major {
		return v.Major > o.Major
	}
	if v.Minor != o.Minor {
		return v.Minor > o.Minor
	}
	return v.Patch >= o.Patch
}

// ParseVersion finds the version in the output of a VMM's --version
// ("Firecracker v1.7.0", "QEMU emulator version 7.2.22 (Debian ...)"), in
// an API's answer ("1.7.0") or in a bare version. A version is
// major.minor[.patch] with an optional leading "v" and an optional
// "-suffix"; a missing patch number counts as 0 (qemu says "6.2"). The
// number right after the word "version" wins over numbers elsewhere, such
// as in a distribution's package note.
func ParseVersion(s string) (Version, error) {
	fields := strings.Fields(s)
	for i, f := range fields {
		if f == "version" && i+1 < len(fields) {
			if v, ok := parseVersionField(fields[i+1]); ok {
				return v, nil
			}
		}
	}
	for _, f := range fields {
		if v, ok := parseVersionField(f); ok {
			return v, nil
		}
	}
	return Version{}, fmt.Errorf("no version number (like 1.7.0) in %q", Excerpt(s, 200))
}

func parseVersionField(f string) (Version, bool) {
	num, pre, _ := strings.Cut(strings.TrimPrefix(f, "v"), "-")
	parts := strings.Split(num, ".")
	if len(parts) < 2 || len(parts) > 3 {
		return Version{}, false
	}
	var n [3]int
	for i, p := range parts {
		// Atoi takes a sign; a version number has none.
		if p == "" || p[0] == '+' || p[0] == '-' {
			return Version{}, false
		}
		x, err := strconv.Atoi(p)
		if err != nil {
			return Version{}, false
		}
		n[i] = x
	}
	return Version{Major: n[0], Minor: n[1], Patch: n[2], Pre: pre}, true
}

// Excerpt trims s, a VMM's output, and cuts it to at most n bytes for an
// error message.
func Excerpt(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
