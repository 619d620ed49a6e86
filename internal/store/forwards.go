package store

import (
	"context"
	"fmt"
	"time"

	"banger/internal/errdefs"
)

// Forward is a host port forwarded to a guest port for as long as the VM
// runs.
type Forward struct {
	HostAddr  string // a loopback address, e.g. 127.0.0.1
	HostPort  int
	VMID      string
	GuestPort int
	CreatedAt time.Time
}

// AddForward records f. A host address and port already forwarded is
// AlreadyExists; a missing VM is NotFound.
func (s *Store) AddForward(ctx context.Context, f Forward) error {
	if f.HostPort < 1 || f.HostPort > 65535 || f.GuestPort < 1 || f.GuestPort > 65535 || f.HostAddr == "" {
		return errdefs.InvalidArgumentf("invalid forward %s:%d -> %d: ports must be 1-65535", f.HostAddr, f.HostPort, f.GuestPort)
	}
	_, err := s.q.ExecContext(ctx, `INSERT INTO forwards (host_addr, host_port, vm_id, guest_port, created_at)
		VALUES (?, ?, ?, ?, ?)`, f.HostAddr, f.HostPort, f.VMID, f.GuestPort, nanos(orNow(f.CreatedAt, s.now())))
	switch sqliteCode(err) {
	case 0:
		return nil
	case codePrimaryKey, codeUnique:
		return errdefs.AlreadyExistsf("host port %s:%d is already forwarded: stop that forward first (banger vm forward NAME --stop %d)", f.HostAddr, f.HostPort, f.HostPort)
	case codeForeignKey:
		return errdefs.NotFoundf("no VM with id %q", f.VMID)
	}
	return fmt.Errorf("record forward %s:%d: %w", f.HostAddr, f.HostPort, err)
}

// RemoveForward deletes the forward of host port; a missing one is NotFound.
func (s *Store) RemoveForward(ctx context.Context, hostAddr string, hostPort int) error {
	res, err := s.q.ExecContext(ctx, `DELETE FROM forwards WHERE host_addr = ? AND host_port = ?`, hostAddr, hostPort)
	if err != nil {
		return fmt.Errorf("remove forward %s:%d: %w", hostAddr, hostPort, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return errdefs.NotFoundf("host port %s:%d is not forwarded; banger vm forward NAME --list shows the forwards", hostAddr, hostPort)
	}
	return nil
}

// RemoveForwards deletes every forward to vmID.
func (s *Store) RemoveForwards(ctx context.Context, vmID string) error {
	if _, err := s.q.ExecContext(ctx, `DELETE FROM forwards WHERE vm_id = ?`, vmID); err != nil {
		return fmt.Errorf("remove the forwards of %s: %w", vmID, err)
	}
	return nil
}

// ListForwards returns the forwards to vmID, or every forward when vmID is
// empty, by host port.
func (s *Store) ListForwards(ctx context.Context, vmID string) ([]Forward, error) {
	rows, err := s.q.QueryContext(ctx, `SELECT host_addr, host_port, vm_id, guest_port, created_at FROM forwards
		WHERE ?1 = '' OR vm_id = ?1 ORDER BY host_port, host_addr`, vmID)
	if err != nil {
		return nil, fmt.Errorf("list forwards: %w", err)
	}
	defer rows.Close()
	var out []Forward
	for rows.Next() {
		var (
			f       Forward
			created int64
		)
		if err := rows.Scan(&f.HostAddr, &f.HostPort, &f.VMID, &f.GuestPort, &created); err != nil {
			return nil, fmt.Errorf("list forwards: %w", err)
		}
		f.CreatedAt = fromNanos(created)
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list forwards: %w", err)
	}
	return out, nil
}
