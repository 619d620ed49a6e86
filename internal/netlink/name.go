package netlink

import "banger/internal/errdefs"

// maxLinkName is the longest Linux interface name in bytes (IFNAMSIZ - 1).
const maxLinkName = 15

// ValidLinkName reports whether name is an acceptable Linux interface name
// for banger to create: 1..15 bytes of [a-z0-9_-] starting with a letter.
// banger never makes other names, so anything else is refused before it
// reaches the kernel.
func ValidLinkName(name string) error {
	switch {
	case name == "":
		return errdefs.InvalidArgumentf("link name is empty: use 1 to %d characters of a-z, 0-9, '-' and '_'", maxLinkName)
	case len(name) > maxLinkName:
		return errdefs.InvalidArgumentf("link name %q is %d bytes long: Linux allows at most %d, use a shorter name", name, len(name), maxLinkName)
	case name[0] < 'a' || name[0] > 'z':
		return errdefs.InvalidArgumentf("link name %q must start with a lowercase letter", name)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' {
			continue
		}
		return errdefs.InvalidArgumentf("link name %q has %q at byte %d: use only a-z, 0-9, '-' and '_'", name, c, i)
	}
	return nil
}
