package daemon

import (
	"context"
	"log/slog"
	"net/netip"
	"time"

	"github.com/godbus/dbus/v5"

	"banger/internal/privileged"
	"banger/internal/resolved"
)

// resolvedLink is the routing of the VM domain to banger's DNS server
// through systemd-resolved: per-link DNS and a routing-only domain on the
// bridge, undone when the daemon stops.
type resolvedLink struct {
	conn    *dbus.Conn
	ifindex int
	log     *slog.Logger
}

// wireResolved routes domain to dnsAddr on bridge when systemd-resolved
// runs, and returns nil (after saying why in the log) when it cannot.
func wireResolved(ctx context.Context, log *slog.Logger, host privileged.Host, bridge string, dnsAddr netip.Addr, domain string) *resolvedLink {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if !resolved.Available(ctx) {
		log.Info("systemd-resolved is not running: see docs/dns.md to resolve ." + domain + " names on the host")
		return nil
	}
	idx, err := host.LinkIndex(bridge)
	if err != nil {
		log.Warn("route ."+domain+" through systemd-resolved", "err", err)
		return nil
	}
	conn, err := resolved.SystemBus()
	if err != nil {
		log.Warn("route ."+domain+" through systemd-resolved", "err", err)
		return nil
	}
	if err := resolved.Configure(ctx, conn, idx, dnsAddr, domain); err != nil {
		log.Warn("route ."+domain+" through systemd-resolved", "err", err)
		conn.Close()
		return nil
	}
	log.Info("routed ."+domain+" through systemd-resolved", "link", bridge, "dns", dnsAddr.String())
	return &resolvedLink{conn: conn, ifindex: idx, log: log}
}

// revert undoes the routing; nil is fine.
func (r *resolvedLink) revert() {
	if r == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := resolved.Revert(ctx, r.conn, r.ifindex); err != nil {
		r.log.Warn("undo the systemd-resolved routing", "err", err)
	}
	r.conn.Close()
}
