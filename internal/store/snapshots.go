package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"banger/internal/errdefs"
)

// Snapshot is the persisted record of a VM's saved state: the VMM's state
// and memory files and copies of the VM's disks, all under Dir.
type Snapshot struct {
	ID        string // 16 lowercase hex chars
	Name      string // unique
	State     string // "creating", "ready", "deleting"
	VMID      string // the VM it was taken of; it may be gone
	VMName    string
	ImageID   string // references images(id)
	Driver    string // the VMM driver that saved it; only it can load it
	VCPUs     int
	MemoryMiB int
	DiskBytes int64 // the work disk's size
	Dir       string
	SizeBytes int64 // bytes the files take on disk
	CreatedAt time.Time
	// AgentToken is the agent secret the saved guest holds: a VM made
	// from the snapshot is reached with it until it takes its own.
	AgentToken string
	Auto       bool // made by vm fork; removed with the last VM made from it
}

var snapshotStates = []string{"creating", "ready", "deleting"}

const snapshotColumns = `id, name, state, vm_id, vm_name, image_id, driver, vcpus, memory_mib,
	disk_bytes, dir, size_bytes, created_at, agent_token, auto`

func validateSnapshot(sn Snapshot) error {
	var p problems
	p.checkHexID("id", sn.ID)
	if sn.Name == "" {
		p.addf("name is empty")
	}
	p.checkOneOf("state", sn.State, snapshotStates)
	p.checkHexID("image id", sn.ImageID)
	if sn.Dir == "" {
		p.addf("dir is empty")
	}
	p.checkNonNegative("vcpus", int64(sn.VCPUs))
	p.checkNonNegative("memory", int64(sn.MemoryMiB))
	p.checkNonNegative("disk size", sn.DiskBytes)
	p.checkNonNegative("size", sn.SizeBytes)
	if len(p) > 0 {
		return errdefs.InvalidArgumentf("invalid snapshot record %q: %s", sn.Name, p)
	}
	return nil
}

func scanSnapshot(sc scanner) (Snapshot, error) {
	var (
		sn      Snapshot
		created int64
	)
	err := sc.Scan(&sn.ID, &sn.Name, &sn.State, &sn.VMID, &sn.VMName, &sn.ImageID, &sn.Driver,
		&sn.VCPUs, &sn.MemoryMiB, &sn.DiskBytes, &sn.Dir, &sn.SizeBytes, &created, &sn.AgentToken, &sn.Auto)
	if err != nil {
		return Snapshot{}, err
	}
	sn.CreatedAt = fromNanos(created)
	return sn, nil
}

func snapshotWriteError(err error, sn Snapshot) error {
	switch sqliteCode(err) {
	case codePrimaryKey:
		return errdefs.AlreadyExistsf("a snapshot with id %q already exists", sn.ID)
	case codeUnique:
		return errdefs.AlreadyExistsf("a snapshot named %q already exists: pick another name, or remove it with \"banger snapshot rm %s\"", sn.Name, sn.Name)
	case codeForeignKey:
		return errdefs.NotFoundf("no image with id %q for snapshot %q", sn.ImageID, sn.Name)
	}
	return fmt.Errorf("write snapshot %q: %w", sn.Name, err)
}

// CreateSnapshot inserts sn; CreatedAt defaults to now.
func (s *Store) CreateSnapshot(ctx context.Context, sn Snapshot) error {
	if err := validateSnapshot(sn); err != nil {
		return err
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO snapshots (`+snapshotColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		sn.ID, sn.Name, sn.State, sn.VMID, sn.VMName, sn.ImageID, sn.Driver, sn.VCPUs, sn.MemoryMiB,
		sn.DiskBytes, sn.Dir, sn.SizeBytes, nanos(orNow(sn.CreatedAt, s.now())), sn.AgentToken, sn.Auto)
	if err != nil {
		return snapshotWriteError(err, sn)
	}
	return nil
}

// UpdateSnapshot writes the state and size of the snapshot sn.ID.
func (s *Store) UpdateSnapshot(ctx context.Context, sn Snapshot) error {
	if err := validateSnapshot(sn); err != nil {
		return err
	}
	res, err := s.db.ExecContext(ctx, `UPDATE snapshots SET state = ?, size_bytes = ? WHERE id = ?`,
		sn.State, sn.SizeBytes, sn.ID)
	if err != nil {
		return snapshotWriteError(err, sn)
	}
	return snapshotAffected(res, sn.ID)
}

// GetSnapshot returns the snapshot whose id is ref or, failing that, whose
// name is ref.
func (s *Store) GetSnapshot(ctx context.Context, ref string) (Snapshot, error) {
	row := s.db.QueryRowContext(ctx, `SELECT `+snapshotColumns+` FROM snapshots
		WHERE id = ?1 OR name = ?1 ORDER BY id = ?1 DESC LIMIT 1`, ref)
	sn, err := scanSnapshot(row)
	if errors.Is(err, sql.ErrNoRows) {
		return Snapshot{}, errdefs.NotFoundf("no snapshot named %q; \"banger snapshot list\" shows the snapshots", ref)
	}
	if err != nil {
		return Snapshot{}, fmt.Errorf("read snapshot %q: %w", ref, err)
	}
	return sn, nil
}

// ListSnapshots returns every snapshot, oldest first.
func (s *Store) ListSnapshots(ctx context.Context) ([]Snapshot, error) {
	return queryAll(ctx, s.db, "list snapshots", scanSnapshot, `SELECT `+snapshotColumns+` FROM snapshots ORDER BY created_at, name`)
}

// DeleteSnapshot removes the snapshot record id.
func (s *Store) DeleteSnapshot(ctx context.Context, id string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM snapshots WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("delete snapshot %s: %w", id, err)
	}
	return snapshotAffected(res, id)
}

func snapshotAffected(res sql.Result, id string) error {
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("write snapshot %s: %w", id, err)
	}
	if n == 0 {
		return errdefs.NotFoundf("no snapshot with id %q; \"banger snapshot list\" shows the snapshots", id)
	}
	return nil
}
