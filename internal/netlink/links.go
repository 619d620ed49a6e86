package netlink

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	vnl "github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"banger/internal/errdefs"
)

// rootHint is appended to errors the kernel gives for lack of privilege.
const rootHint = "run bangerd as root or give it CAP_NET_ADMIN"

// hostErr wraps err from a netlink operation described by op, adding what
// to do when the cause is recognised.
func hostErr(op string, err error) error {
	switch {
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		return errdefs.FailedPreconditionf("%s: %w: %s", op, err, rootHint)
	default:
		return fmt.Errorf("%s: %w", op, err)
	}
}

// isNotFound reports whether err says a link does not exist.
func isNotFound(err error) bool {
	var nf vnl.LinkNotFoundError
	return errors.As(err, &nf) || errors.Is(err, unix.ENODEV)
}

// lookup finds the named link; a missing link gives (nil, nil).
func lookup(name string) (vnl.Link, error) {
	l, err := vnl.LinkByName(name)
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, hostErr("look up link "+name, err)
	}
	return l, nil
}

// mustLookup finds the named link; a missing link is a NotFound error.
func mustLookup(name, what string) (vnl.Link, error) {
	l, err := lookup(name)
	if err != nil {
		return nil, err
	}
	if l == nil {
		return nil, errdefs.NotFoundf("%s %s does not exist", what, name)
	}
	return l, nil
}

// LinkExists reports whether a link of that name exists.
func LinkExists(name string) (bool, error) {
	l, err := lookup(name)
	return l != nil, err
}

// DeleteLink removes the named link; a missing link is not an error.
func DeleteLink(name string) error {
	l, err := LookupLink(name)
	if err != nil || l == nil {
		return err
	}
	return l.Delete()
}

// RenameLink renames a link that is down. A link that is up is refused,
// as the kernel does; set it down first (DetachTap does).
func RenameLink(from, to string) error {
	if err := ValidLinkName(to); err != nil {
		return err
	}
	l, err := LookupLink(from)
	if err != nil {
		return err
	}
	if l == nil {
		return errdefs.NotFoundf("link %s does not exist", from)
	}
	return l.Rename(to)
}

// Links lists the names of links whose name starts with prefix, sorted.
func Links(prefix string) ([]string, error) {
	all, err := vnl.LinkList()
	if err != nil {
		return nil, hostErr("list links", err)
	}
	var names []string
	for _, l := range all {
		if n := l.Attrs().Name; strings.HasPrefix(n, prefix) {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names, nil
}

// LinkIndex returns the interface index of the named link, NotFound when
// it does not exist.
func LinkIndex(name string) (int, error) {
	l, err := mustLookup(name, "link")
	if err != nil {
		return 0, err
	}
	return l.Attrs().Index, nil
}
