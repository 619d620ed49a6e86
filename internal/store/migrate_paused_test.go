package store

import (
	"context"
	"path/filepath"
	"testing"
)

// TestMigratePausedKeepsChildren: migration 6 rebuilds vms to accept the
// paused state; the leases, forwards and workspaces that reference a VM
// must survive it (dropping vms would cascade to them), and the rebuilt
// tables must still cascade a VM's delete.
func TestMigratePausedKeepsChildren(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	db := openAt(t, path, 5)
	for _, q := range []string{
		`INSERT INTO images VALUES ('00000000000000a1', 'golden', '/img/rootfs.ext4', '/k/vmlinux', '', 1024, 1000)`,
		`INSERT INTO vms (id, name, state, image_id, vcpus, memory_mib, disk_bytes, driver, dir,
			runtime_dir, created_at, updated_at, agent_token, nat, net_group)
			VALUES ('00000000000000b1', 'dev', 'running', '00000000000000a1', 2, 512, 4096,
			'qemu', '/s/dev', '/r/dev', 2000, 3000, 'secret', 0, 'grp')`,
		`INSERT INTO leases VALUES ('00000000000000b1', '172.30.0.2', 'aa:bb:cc:dd:ee:01', 10)`,
		`INSERT INTO forwards VALUES ('127.0.0.1', 8080, '00000000000000b1', 80, 11)`,
		`INSERT INTO workspaces VALUES ('00000000000000b1', '/home/u/repo', '/root/repo', 'abc123', 'main', 12)`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("at version 5: %v", err)
		}
	}
	if _, err := db.ExecContext(ctx, `UPDATE vms SET state = 'paused'`); err == nil {
		t.Fatal("version 5 accepted the paused state")
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("Open of a version 5 database: %v", err)
	}
	defer s.Close()
	vm, err := s.GetVM(ctx, "dev")
	if err != nil {
		t.Fatalf("GetVM after migration: %v", err)
	}
	if vm.AgentToken != "secret" || vm.NAT || vm.NetGroup != "grp" || vm.Driver != "qemu" {
		t.Errorf("VM after migration lost columns: %+v", vm)
	}
	vm.State = "paused"
	if err := s.UpdateVM(ctx, vm); err != nil {
		t.Fatalf("UpdateVM to paused: %v", err)
	}
	if l, err := s.GetLease(ctx, vm.ID); err != nil || l.IP.String() != "172.30.0.2" || l.MAC != "aa:bb:cc:dd:ee:01" {
		t.Errorf("lease after migration = %+v, %v", l, err)
	}
	if fs, err := s.ListForwards(ctx, vm.ID); err != nil || len(fs) != 1 || fs[0].HostPort != 8080 || fs[0].GuestPort != 80 {
		t.Errorf("forwards after migration = %+v, %v", fs, err)
	}
	if w, err := s.GetWorkspace(ctx, vm.ID); err != nil || w.BaseCommit != "abc123" || w.Branch != "main" {
		t.Errorf("workspace after migration = %+v, %v", w, err)
	}
	// The rebuilt tables still reference vms: deleting the VM takes them.
	if err := s.DeleteVM(ctx, vm.ID); err != nil {
		t.Fatalf("DeleteVM: %v", err)
	}
	for _, table := range []string{"leases", "forwards", "workspaces"} {
		var n int
		if err := s.db.QueryRowContext(ctx, "SELECT count(*) FROM "+table).Scan(&n); err != nil || n != 0 {
			t.Errorf("%s after the VM's delete: %d rows, %v; want 0", table, n, err)
		}
	}
}
