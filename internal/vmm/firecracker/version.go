package firecracker

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"banger/internal/errdefs"
	"banger/internal/vmm"
)

// MinVersion is the oldest Firecracker banger drives.
const MinVersion = "1.5.0"

// checkTimeout bounds `firecracker --version`.
const checkTimeout = 10 * time.Second

// Version is a Firecracker release number. Pre is a pre-release or build
// suffix such as "dev"; it does not take part in comparisons.
type Version struct {
	Major, Minor, Patch int
	Pre                 string
}

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

// ParseVersion finds the version in s, which may be the output of
// `firecracker --version` ("Firecracker v1.7.0"), a GET /version answer
// ("1.7.0") or a bare version with an optional leading "v" and a
// "-suffix".
func ParseVersion(s string) (Version, error) {
	for _, field := range strings.Fields(s) {
		if v, ok := parseVersionField(field); ok {
			return v, nil
		}
	}
	return Version{}, fmt.Errorf("no firecracker version (like v1.7.0) in %q", truncate(s, 200))
}

func parseVersionField(f string) (Version, bool) {
	f = strings.TrimPrefix(f, "v")
	num, pre, _ := strings.Cut(f, "-")
	parts := strings.Split(num, ".")
	if len(parts) != 3 {
		return Version{}, false
	}
	var n [3]int
	for i, p := range parts {
		x, err := strconv.Atoi(p)
		if err != nil || x < 0 || p == "" || p[0] == '+' {
			return Version{}, false
		}
		n[i] = x
	}
	return Version{Major: n[0], Minor: n[1], Patch: n[2], Pre: pre}, true
}

// Check resolves the firecracker binary, runs `<binary> --version` and
// refuses versions older than MinVersion. The returned Info is filled in
// as far as it got, also on error, so doctor can show it.
func (d *Driver) Check(ctx context.Context) (vmm.Info, error) {
	bin, err := d.binary()
	if err != nil {
		return vmm.Info{}, err
	}
	info := vmm.Info{Binary: bin}
	ctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "--version").CombinedOutput()
	if err != nil {
		return info, errdefs.FailedPreconditionf("run %s --version: %w (output: %q): check the binary or set vmm.firecracker_bin in the config",
			bin, err, truncate(string(out), 200))
	}
	v, err := ParseVersion(string(out))
	if err != nil {
		return info, errdefs.FailedPreconditionf("%s --version: %w: is vmm.firecracker_bin really Firecracker?", bin, err)
	}
	info.Version = v.String()
	minV, _ := ParseVersion(MinVersion)
	if !v.AtLeast(minV) {
		return info, errdefs.FailedPreconditionf("firecracker %s at %s is older than %s, the oldest banger supports: upgrade Firecracker (%s)",
			v, bin, MinVersion, releasesURL)
	}
	return info, nil
}

func truncate(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
