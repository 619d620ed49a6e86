package dns

import (
	"bufio"
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"strings"

	"banger/internal/errdefs"
)

// UpstreamsFromResolvConf reads the nameserver lines of the resolv.conf file
// at path and returns them as "IP:53" strings, in order and without
// duplicates. Addresses in skip ("IP" or "IP:port": banger's own listeners)
// are left out so that the server never forwards to itself. Lines that do
// not hold an IP address are ignored, as the C library does. It is an error
// for no usable nameserver to remain.
func UpstreamsFromResolvConf(path string, skip ...string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, errdefs.Wrap(errdefs.FailedPrecondition, fmt.Errorf("read upstream resolvers from %s: %w; set dns.upstreams instead", path, err))
	}
	skipped := map[netip.Addr]bool{}
	for _, s := range skip {
		if ap, err := netip.ParseAddrPort(s); err == nil {
			skipped[ap.Addr().Unmap()] = true
		} else if a, err := netip.ParseAddr(s); err == nil {
			skipped[a.Unmap()] = true
		}
	}
	var out []string
	seen := map[netip.Addr]bool{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		line, _, _ = strings.Cut(line, ";")
		fields := strings.Fields(line)
		if len(fields) < 2 || fields[0] != "nameserver" {
			continue
		}
		a, err := netip.ParseAddr(fields[1])
		if err != nil {
			continue
		}
		a = a.Unmap()
		if skipped[a.WithZone("")] || skipped[a] || seen[a] || a.IsUnspecified() {
			continue
		}
		seen[a] = true
		out = append(out, netip.AddrPortFrom(a, 53).String())
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read upstream resolvers from %s: %w", path, err)
	}
	if len(out) == 0 {
		return nil, errdefs.FailedPreconditionf("%s lists no nameserver banger can forward to: set dns.upstreams", path)
	}
	return out, nil
}
