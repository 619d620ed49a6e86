package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"banger/internal/errdefs"
)

// Workspace records the git checkout shipped into a VM: one per VM, gone
// with it.
type Workspace struct {
	VMID       string
	HostPath   string // the checkout's top level on the host
	GuestPath  string // where it lives in the guest
	BaseCommit string // the commit HEAD was at when it shipped
	Branch     string // the branch it was on; empty when detached
	PreparedAt time.Time
}

// SetWorkspace records w, replacing the VM's previous workspace. A missing
// VM is NotFound.
func (s *Store) SetWorkspace(ctx context.Context, w Workspace) error {
	if w.HostPath == "" || w.GuestPath == "" || w.BaseCommit == "" {
		return errdefs.InvalidArgumentf("invalid workspace for VM %s: host path, guest path and base commit are required", w.VMID)
	}
	_, err := s.q.ExecContext(ctx, `INSERT OR REPLACE INTO workspaces
		(vm_id, host_path, guest_path, base_commit, branch, prepared_at) VALUES (?, ?, ?, ?, ?, ?)`,
		w.VMID, w.HostPath, w.GuestPath, w.BaseCommit, w.Branch, nanos(orNow(w.PreparedAt, s.now())))
	switch sqliteCode(err) {
	case 0:
		return nil
	case codeForeignKey:
		return errdefs.NotFoundf("no VM with id %q", w.VMID)
	}
	return fmt.Errorf("record the workspace of %s: %w", w.VMID, err)
}

// GetWorkspace returns the workspace of vmID; NotFound when it has none.
func (s *Store) GetWorkspace(ctx context.Context, vmID string) (Workspace, error) {
	row := s.q.QueryRowContext(ctx, `SELECT vm_id, host_path, guest_path, base_commit, branch, prepared_at
		FROM workspaces WHERE vm_id = ?`, vmID)
	w, err := scanWorkspace(row)
	if errors.Is(err, sql.ErrNoRows) {
		return Workspace{}, errdefs.NotFoundf("VM %s has no workspace: ship one with banger vm workspace prepare", vmID)
	}
	return w, err
}

// ListWorkspaces returns every VM's workspace.
func (s *Store) ListWorkspaces(ctx context.Context) ([]Workspace, error) {
	rows, err := s.q.QueryContext(ctx, `SELECT vm_id, host_path, guest_path, base_commit, branch, prepared_at
		FROM workspaces ORDER BY vm_id`)
	if err != nil {
		return nil, fmt.Errorf("list workspaces: %w", err)
	}
	defer rows.Close()
	var out []Workspace
	for rows.Next() {
		w, err := scanWorkspace(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, w)
	}
	return out, rows.Err()
}

func scanWorkspace(sc scanner) (Workspace, error) {
	var (
		w        Workspace
		prepared int64
	)
	if err := sc.Scan(&w.VMID, &w.HostPath, &w.GuestPath, &w.BaseCommit, &w.Branch, &prepared); err != nil {
		return Workspace{}, err
	}
	w.PreparedAt = fromNanos(prepared)
	return w, nil
}
