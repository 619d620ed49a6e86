package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"banger/internal/errdefs"
)

// VM is the persisted record of one microVM. Everything needed to find and
// tear down its host resources is recorded here before they are created.
type VM struct {
	ID         string // 16 lowercase hex chars, primary key
	Name       string // unique
	State      string // "creating","stopped","starting","running","paused","stopping","deleting","error"
	ImageID    string // references images(id); an image in use cannot be deleted
	VCPUs      int
	MemoryMiB  int
	DiskBytes  int64  // work disk size
	Driver     string // "firecracker"
	Dir        string // per-VM state dir (disks, console log)
	RuntimeDir string // per-VM runtime dir (sockets)
	APISocket  string
	PID        int
	PIDStart   uint64 // process start time (clock ticks), 0 if unknown
	LastError  string
	CreatedAt  time.Time
	UpdatedAt  time.Time         // set by the store on every write
	StartedAt  time.Time         // zero if never
	AgentToken string            // secret the guest agent checks on every request
	NAT        bool              // may reach outside networks
	NetGroup   string            // VMs of the same non-empty group may reach each other
	Labels     map[string]string // a client's key/value pairs, set at create; nil when none
	SnapshotID string            // the snapshot it was made from; "" when booted from its image
}

var vmStates = []string{"creating", "stopped", "starting", "running", "paused", "stopping", "deleting", "error"}

const vmColumns = `id, name, state, image_id, vcpus, memory_mib, disk_bytes, driver, dir,
	runtime_dir, api_socket, pid, pid_start, last_error, created_at, updated_at, started_at, agent_token, nat, net_group, labels, snapshot_id`

func validateVM(vm VM) error {
	var p problems
	p.checkHexID("id", vm.ID)
	if vm.Name == "" {
		p.addf("name is empty")
	}
	p.checkOneOf("state", vm.State, vmStates)
	p.checkHexID("image id", vm.ImageID)
	p.checkNonNegative("vcpus", int64(vm.VCPUs))
	p.checkNonNegative("memory", int64(vm.MemoryMiB))
	p.checkNonNegative("disk size", vm.DiskBytes)
	p.checkNonNegative("pid", int64(vm.PID))
	if vm.PIDStart > math.MaxInt64 {
		p.addf("pid start time %d is out of range", vm.PIDStart)
	}
	if len(p) > 0 {
		return errdefs.InvalidArgumentf("invalid VM record %q: %s", vm.Name, p)
	}
	return nil
}

func scanVM(sc scanner) (VM, error) {
	var (
		vm               VM
		pidStart         int64
		created, updated int64
		started          sql.NullInt64
		labels           string
	)
	err := sc.Scan(&vm.ID, &vm.Name, &vm.State, &vm.ImageID, &vm.VCPUs, &vm.MemoryMiB,
		&vm.DiskBytes, &vm.Driver, &vm.Dir, &vm.RuntimeDir, &vm.APISocket, &vm.PID, &pidStart,
		&vm.LastError, &created, &updated, &started, &vm.AgentToken, &vm.NAT, &vm.NetGroup, &labels, &vm.SnapshotID)
	if err != nil {
		return VM{}, err
	}
	if vm.Labels, err = decodeLabels(labels); err != nil {
		return VM{}, fmt.Errorf("VM %q: %w", vm.Name, err)
	}
	vm.PIDStart = uint64(pidStart)
	vm.CreatedAt, vm.UpdatedAt, vm.StartedAt = fromNanos(created), fromNanos(updated), fromNullNanos(started)
	return vm, nil
}

// vmWriteError classifies a failed insert or update of vm.
func vmWriteError(err error, vm VM) error {
	switch sqliteCode(err) {
	case codePrimaryKey:
		return errdefs.AlreadyExistsf("a VM with id %q already exists", vm.ID)
	case codeUnique:
		return errdefs.AlreadyExistsf("a VM named %q already exists: pick another name, or remove it with \"banger vm delete %s\"", vm.Name, vm.Name)
	case codeForeignKey:
		return errdefs.NotFoundf("no image with id %q for VM %q; \"banger image list\" shows the images", vm.ImageID, vm.Name)
	}
	return fmt.Errorf("write VM %q: %w", vm.Name, err)
}

// CreateVM inserts vm. CreatedAt defaults to now; UpdatedAt is set to now.
// It fails with AlreadyExists if the name or id is taken and NotFound if
// the image does not exist.
func (s *Store) CreateVM(ctx context.Context, vm VM) error {
	if err := validateVM(vm); err != nil {
		return err
	}
	now := s.now()
	_, err := s.q.ExecContext(ctx, `INSERT INTO vms (`+vmColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		vm.ID, vm.Name, vm.State, vm.ImageID, vm.VCPUs, vm.MemoryMiB, vm.DiskBytes, vm.Driver,
		vm.Dir, vm.RuntimeDir, vm.APISocket, vm.PID, int64(vm.PIDStart), vm.LastError,
		nanos(orNow(vm.CreatedAt, now)), nanos(now), nullNanos(vm.StartedAt), vm.AgentToken, vm.NAT, vm.NetGroup, encodeLabels(vm.Labels), vm.SnapshotID)
	if err != nil {
		return vmWriteError(err, vm)
	}
	return nil
}

// GetVM returns the VM whose id is ref or, failing that, whose name is ref.
func (s *Store) GetVM(ctx context.Context, ref string) (VM, error) {
	row := s.q.QueryRowContext(ctx, `SELECT `+vmColumns+` FROM vms
		WHERE id = ?1 OR name = ?1 ORDER BY id = ?1 DESC LIMIT 1`, ref)
	vm, err := scanVM(row)
	if errors.Is(err, sql.ErrNoRows) {
		return VM{}, errdefs.NotFoundf("no VM named %q; \"banger vm list\" shows the VMs", ref)
	}
	if err != nil {
		return VM{}, fmt.Errorf("read VM %q: %w", ref, err)
	}
	return vm, nil
}

// ListVMs returns every VM, oldest first (ties by name).
func (s *Store) ListVMs(ctx context.Context) ([]VM, error) {
	return queryAll(ctx, s.q, "list VMs", scanVM, `SELECT `+vmColumns+` FROM vms ORDER BY created_at, name`)
}

// UpdateVM replaces the record with vm.ID by vm, except CreatedAt, which
// never changes; UpdatedAt is set to now. It fails with NotFound if the VM
// is gone and AlreadyExists if the new name is taken by another VM.
func (s *Store) UpdateVM(ctx context.Context, vm VM) error {
	if err := validateVM(vm); err != nil {
		return err
	}
	res, err := s.q.ExecContext(ctx, `UPDATE vms SET name = ?, state = ?, image_id = ?, vcpus = ?,
		memory_mib = ?, disk_bytes = ?, driver = ?, dir = ?, runtime_dir = ?, api_socket = ?,
		pid = ?, pid_start = ?, last_error = ?, updated_at = ?, started_at = ?, agent_token = ?, nat = ?, net_group = ?, labels = ?, snapshot_id = ? WHERE id = ?`,
		vm.Name, vm.State, vm.ImageID, vm.VCPUs, vm.MemoryMiB, vm.DiskBytes, vm.Driver, vm.Dir,
		vm.RuntimeDir, vm.APISocket, vm.PID, int64(vm.PIDStart), vm.LastError, nanos(s.now()),
		nullNanos(vm.StartedAt), vm.AgentToken, vm.NAT, vm.NetGroup, encodeLabels(vm.Labels), vm.SnapshotID, vm.ID)
	if err != nil {
		return vmWriteError(err, vm)
	}
	return vmAffected(res, vm.ID)
}

// DeleteVM removes the VM with the given id.
func (s *Store) DeleteVM(ctx context.Context, id string) error {
	res, err := s.q.ExecContext(ctx, `DELETE FROM vms WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("delete VM %s: %w", id, err)
	}
	return vmAffected(res, id)
}

// vmAffected turns "no row changed" into NotFound.
func vmAffected(res sql.Result, id string) error {
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("write VM %s: %w", id, err)
	}
	if n == 0 {
		return errdefs.NotFoundf("no VM with id %q; \"banger vm list\" shows the VMs", id)
	}
	return nil
}

// encodeLabels is the labels column's JSON object; nil is "{}".
func encodeLabels(l map[string]string) string {
	if len(l) == 0 {
		return "{}"
	}
	b, err := json.Marshal(l)
	if err != nil {
		// A map of strings always marshals.
		return "{}"
	}
	return string(b)
}

// decodeLabels reads the labels column; "{}" is nil.
func decodeLabels(s string) (map[string]string, error) {
	var l map[string]string
	if err := json.Unmarshal([]byte(s), &l); err != nil {
		return nil, fmt.Errorf("labels column is not a JSON object of strings: %w", err)
	}
	if len(l) == 0 {
		return nil, nil
	}
	return l, nil
}
