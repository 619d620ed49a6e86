package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"banger/internal/errdefs"
)

// Lease is the IPv4 address and MAC a VM holds for as long as its record
// exists.
type Lease struct {
	VMID      string
	IP        netip.Addr
	MAC       string // aa:bb:cc:dd:ee:ff
	CreatedAt time.Time
}

// AllocateLease returns the lease of vmID, creating it when there is none:
// the lowest address of subnet that is not the network, broadcast or
// gateway address and is held by no other VM. mac is stored with a new
// lease; an existing lease keeps its own. It fails with FailedPrecondition
// when the subnet is full and NotFound when the VM does not exist.
func (s *Store) AllocateLease(ctx context.Context, vmID string, subnet netip.Prefix, gateway netip.Addr, mac string) (Lease, error) {
	var l Lease
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		got, err := leaseOf(ctx, tx, vmID)
		if err == nil {
			l = got
			return nil
		}
		if !errdefs.Is(err, errdefs.NotFound) {
			return err
		}
		used, err := queryStrings(ctx, tx, `SELECT ip FROM leases`)
		if err != nil {
			return fmt.Errorf("read leases: %w", err)
		}
		taken := make(map[string]bool, len(used))
		for _, u := range used {
			taken[u] = true
		}
		ip, ok := firstFree(subnet, gateway, taken)
		if !ok {
			return errdefs.FailedPreconditionf("no free address in %s: delete VMs you no longer need or choose a larger network.subnet", subnet)
		}
		l = Lease{VMID: vmID, IP: ip, MAC: mac, CreatedAt: s.now()}
		_, err = tx.ExecContext(ctx, `INSERT INTO leases (vm_id, ip, mac, created_at) VALUES (?, ?, ?, ?)`,
			vmID, ip.String(), mac, nanos(l.CreatedAt))
		switch sqliteCode(err) {
		case 0:
			return nil
		case codeForeignKey:
			return errdefs.NotFoundf("no VM with id %q to lease an address to", vmID)
		case codeUnique:
			return errdefs.AlreadyExistsf("MAC %s is already leased to another VM", mac)
		}
		return fmt.Errorf("lease an address to %s: %w", vmID, err)
	})
	return l, err
}

// firstFree is the lowest usable address of subnet not in taken.
func firstFree(subnet netip.Prefix, gateway netip.Addr, taken map[string]bool) (netip.Addr, bool) {
	subnet = subnet.Masked()
	for a := subnet.Addr().Next(); subnet.Contains(a); a = a.Next() {
		if !subnet.Contains(a.Next()) { // the broadcast address
			break
		}
		if a != gateway && !taken[a.String()] {
			return a, true
		}
	}
	return netip.Addr{}, false
}

// GetLease returns the lease of vmID, NotFound when it has none.
func (s *Store) GetLease(ctx context.Context, vmID string) (Lease, error) {
	return leaseOf(ctx, s.q, vmID)
}

const leaseColumns = `vm_id, ip, mac, created_at`

func leaseOf(ctx context.Context, q querier, vmID string) (Lease, error) {
	l, err := scanLease(q.QueryRowContext(ctx, `SELECT `+leaseColumns+` FROM leases WHERE vm_id = ?`, vmID))
	if errors.Is(err, sql.ErrNoRows) {
		return Lease{}, errdefs.NotFoundf("VM %s holds no address lease", vmID)
	}
	if err != nil {
		return Lease{}, fmt.Errorf("read lease of %s: %w", vmID, err)
	}
	return l, nil
}

func scanLease(sc scanner) (Lease, error) {
	var (
		l       Lease
		ip      string
		created int64
	)
	if err := sc.Scan(&l.VMID, &ip, &l.MAC, &created); err != nil {
		return Lease{}, err
	}
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return Lease{}, fmt.Errorf("stored address %q: %w", ip, err)
	}
	l.IP, l.CreatedAt = a, fromNanos(created)
	return l, nil
}

// ListLeases returns every lease.
func (s *Store) ListLeases(ctx context.Context) ([]Lease, error) {
	rows, err := s.q.QueryContext(ctx, `SELECT `+leaseColumns+` FROM leases ORDER BY created_at`)
	if err != nil {
		return nil, fmt.Errorf("list leases: %w", err)
	}
	defer rows.Close()
	var out []Lease
	for rows.Next() {
		l, err := scanLease(rows)
		if err != nil {
			return nil, fmt.Errorf("list leases: %w", err)
		}
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list leases: %w", err)
	}
	return out, nil
}

// ReleaseLease drops the lease of vmID; no lease is not an error.
func (s *Store) ReleaseLease(ctx context.Context, vmID string) error {
	if _, err := s.q.ExecContext(ctx, `DELETE FROM leases WHERE vm_id = ?`, vmID); err != nil {
		return fmt.Errorf("release the lease of %s: %w", vmID, err)
	}
	return nil
}

// HostFact returns the value stored under key, "" when none.
func (s *Store) HostFact(ctx context.Context, key string) (string, error) {
	var v string
	err := s.q.QueryRowContext(ctx, `SELECT value FROM host_facts WHERE key = ?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read host fact %s: %w", key, err)
	}
	return v, nil
}

// SetHostFact stores value under key; an empty value deletes it.
func (s *Store) SetHostFact(ctx context.Context, key, value string) error {
	var err error
	if value == "" {
		_, err = s.q.ExecContext(ctx, `DELETE FROM host_facts WHERE key = ?`, key)
	} else {
		_, err = s.q.ExecContext(ctx, `INSERT INTO host_facts (key, value) VALUES (?, ?)
			ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value)
	}
	if err != nil {
		return fmt.Errorf("write host fact %s: %w", key, err)
	}
	return nil
}
