// Package resolved routes banger's DNS domain to banger's DNS server through
// systemd-resolved's D-Bus API: per-link DNS server and routing-only domain
// on the bridge link, undone with RevertLink. It only talks to resolved over
// the bus it is given; it must not edit resolv.conf or any file, create
// links, or import other banger packages besides errdefs.
package resolved

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/godbus/dbus/v5"
	"golang.org/x/sys/unix"

	"banger/internal/errdefs"
)

// The bus name, object and interface of systemd-resolved's manager.
const (
	BusName   = "org.freedesktop.resolve1"
	ObjPath   = dbus.ObjectPath("/org/freedesktop/resolve1")
	Interface = "org.freedesktop.resolve1.Manager"
)

// linkDNS is one entry of SetLinkDNS's a(iay): address family and bytes.
type linkDNS struct {
	Family  int32
	Address []byte
}

// linkDomain is one entry of SetLinkDomains's a(sb): a domain and whether it
// is routing-only ("~vm": used to pick the link, never as a search domain).
type linkDomain struct {
	Domain      string
	RoutingOnly bool
}

// SystemBus connects to the system bus. The caller closes the connection.
func SystemBus() (*dbus.Conn, error) {
	conn, err := dbus.ConnectSystemBus()
	if err != nil {
		return nil, errdefs.Wrap(errdefs.Unavailable, fmt.Errorf("connect to the system D-Bus: %w; is dbus running?", err))
	}
	return conn, nil
}

// Available reports whether systemd-resolved is on the system bus, running
// or activatable. It is false when there is no system bus at all.
func Available(ctx context.Context) bool {
	conn, err := dbus.ConnectSystemBus(dbus.WithContext(ctx))
	if err != nil {
		return false
	}
	defer conn.Close()
	return AvailableOn(ctx, conn)
}

// AvailableOn is Available on an existing connection.
func AvailableOn(ctx context.Context, conn *dbus.Conn) bool {
	bus := conn.BusObject()
	var owned bool
	if err := bus.CallWithContext(ctx, "org.freedesktop.DBus.NameHasOwner", 0, BusName).Store(&owned); err == nil && owned {
		return true
	}
	var activatable []string
	if err := bus.CallWithContext(ctx, "org.freedesktop.DBus.ListActivatableNames", 0).Store(&activatable); err != nil {
		return false
	}
	return slices.Contains(activatable, BusName)
}

// Configure makes resolved send queries for domain (and names below it) to
// the DNS server at dns, through the link ifindex, and only those: the
// domain is routing-only and the link is not a default route for other
// names. If a step fails, the link is reverted so that no half-configured
// state is left.
func Configure(ctx context.Context, conn *dbus.Conn, ifindex int, dns netip.Addr, domain string) error {
	if ifindex <= 0 || ifindex > 1<<31-1 {
		return errdefs.InvalidArgumentf("invalid interface index %d for resolved: use the index of the bridge link", ifindex)
	}
	if !dns.IsValid() {
		return errdefs.InvalidArgumentf("no DNS server address given for resolved link %d", ifindex)
	}
	domain = strings.ToLower(strings.TrimSuffix(domain, "."))
	if domain == "" || strings.HasPrefix(domain, "~") {
		return errdefs.InvalidArgumentf("invalid domain %q for resolved: give the bare domain, such as \"vm\"", domain)
	}
	server := linkDNS{Family: unix.AF_INET, Address: dns.Unmap().AsSlice()}
	if dns.Unmap().Is6() {
		server.Family = unix.AF_INET6
	}
	idx := int32(ifindex)
	obj := conn.Object(BusName, ObjPath)
	steps := []struct {
		method string
		args   []any
	}{
		{"SetLinkDNS", []any{idx, []linkDNS{server}}},
		{"SetLinkDomains", []any{idx, []linkDomain{{Domain: domain, RoutingOnly: true}}}},
		{"SetLinkDefaultRoute", []any{idx, false}},
	}
	for i, st := range steps {
		if err := obj.CallWithContext(ctx, Interface+"."+st.method, 0, st.args...).Err; err != nil {
			err = classify(fmt.Sprintf("route .%s to %v on link %d through systemd-resolved (%s)", domain, dns, ifindex, st.method), err)
			if i > 0 {
				// Undo the steps that worked, even if ctx is what failed.
				rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
				defer cancel()
				if rerr := Revert(rctx, conn, ifindex); rerr != nil {
					err = errors.Join(err, rerr)
				}
			}
			return err
		}
	}
	return nil
}

// Revert drops everything set on the link ifindex through the bus
// (RevertLink), returning it to resolved's own configuration.
func Revert(ctx context.Context, conn *dbus.Conn, ifindex int) error {
	if ifindex <= 0 || ifindex > 1<<31-1 {
		return errdefs.InvalidArgumentf("invalid interface index %d for resolved: use the index of the bridge link", ifindex)
	}
	err := conn.Object(BusName, ObjPath).CallWithContext(ctx, Interface+".RevertLink", 0, int32(ifindex)).Err
	if err != nil {
		return classify(fmt.Sprintf("revert link %d in systemd-resolved", ifindex), err)
	}
	return nil
}

// classify wraps a bus error with what was being done and an error kind
// that says what to do about it.
func classify(what string, err error) error {
	var derr dbus.Error
	name := ""
	if errors.As(err, &derr) {
		name = derr.Name
	}
	switch name {
	case "org.freedesktop.resolve1.NoSuchLink":
		return errdefs.Wrap(errdefs.FailedPrecondition, fmt.Errorf("%s: resolved does not know the link; is it up? %w", what, err))
	case "org.freedesktop.resolve1.LinkBusy":
		return errdefs.Wrap(errdefs.FailedPrecondition, fmt.Errorf("%s: the link is managed by systemd-networkd; configure the domain there instead: %w", what, err))
	case "org.freedesktop.DBus.Error.AccessDenied", "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired":
		return errdefs.Wrap(errdefs.FailedPrecondition, fmt.Errorf("%s: permission denied; run bangerd as root or allow it through polkit: %w", what, err))
	case "org.freedesktop.DBus.Error.ServiceUnknown", "org.freedesktop.DBus.Error.NameHasNoOwner":
		return errdefs.Wrap(errdefs.Unavailable, fmt.Errorf("%s: systemd-resolved is not running; start it or see docs/dns.md for other setups: %w", what, err))
	}
	return errdefs.Wrap(errdefs.Unavailable, fmt.Errorf("%s: %w", what, err))
}
