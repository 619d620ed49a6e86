package store

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"banger/internal/errdefs"

	"github.com/google/go-cmp/cmp"
)

func TestEmbeddedMigrations(t *testing.T) {
	ms, err := loadMigrations(migrationFiles)
	if err != nil {
		t.Fatalf("loadMigrations: %v", err)
	}
	var got []string
	for _, m := range ms {
		got = append(got, m.Name)
	}
	want := []string{"0001_images_vms.sql", "0002_operations.sql", "0003_kernels_agent.sql", "0004_network.sql", "0005_workspaces.sql",
		"0006_kernel_origin.sql", "0007_image_pull.sql",
		"0008_vm_paused.sql", "0009_snapshots.sql",
		"0010_image_identity.sql", "0011_vm_labels.sql", "0012_vm_from_snapshot.sql", "0013_warm_snapshots.sql", "0014_kernel_hz.sql"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("embedded migrations (-want +got):\n%s", diff)
	}
}

func TestLoadMigrationsRejectsBadSets(t *testing.T) {
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	tests := []struct {
		name  string
		files fstest.MapFS
	}{
		{"none", fstest.MapFS{"migrations/README": nil}},
		{"bad name", fstest.MapFS{"migrations/1_init.sql": file("SELECT 1")}},
		{"gap", fstest.MapFS{"migrations/0001_a.sql": file(""), "migrations/0003_c.sql": file("")}},
		{"repeat", fstest.MapFS{"migrations/0001_a.sql": file(""), "migrations/0001_b.sql": file("")}},
		{"not from one", fstest.MapFS{"migrations/0002_b.sql": file("")}},
		{"no directory", fstest.MapFS{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if ms, err := loadMigrations(tt.files); err == nil {
				t.Errorf("loadMigrations = %v, want an error", ms)
			}
		})
	}
}

// openAt creates a database at path migrated to the first n migrations
// only, as an older banger would have left it.
func openAt(t *testing.T, path string, n int) *sql.DB {
	t.Helper()
	ctx := context.Background()
	db, _, err := openDB(ctx, path)
	if err != nil {
		t.Fatalf("openDB: %v", err)
	}
	ms, err := loadMigrations(migrationFiles)
	if err != nil {
		t.Fatal(err)
	}
	if err := migrate(ctx, db, ms[:n]); err != nil {
		t.Fatalf("migrate to %d: %v", n, err)
	}
	return db
}

func TestMigrateFromVersion1(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	db := openAt(t, path, 1)
	if _, err := db.ExecContext(ctx, `INSERT INTO images VALUES
		('00000000000000a1', 'golden', '/img/rootfs.ext4', '/k/vmlinux', '', 1024, 1000)`); err != nil {
		t.Fatalf("insert image at v1: %v", err)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO vms (id, name, state, image_id, vcpus, memory_mib,
		disk_bytes, driver, dir, runtime_dir, created_at, updated_at, started_at)
		VALUES ('00000000000000b1', 'dev', 'stopped', '00000000000000a1', 2, 512, 4096,
		'firecracker', '/s/dev', '/r/dev', 2000, 3000, NULL)`); err != nil {
		t.Fatalf("insert VM at v1: %v", err)
	}
	if _, err := db.ExecContext(ctx, `SELECT 1 FROM operations`); err == nil {
		t.Fatal("operations table exists at version 1")
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("Open of a version 1 database: %v", err)
	}
	defer s.Close()
	if got, err := s.SchemaVersion(ctx); err != nil || got != latestVersion(t) {
		t.Fatalf("SchemaVersion after Open = %d, %v; want %d", got, err, latestVersion(t))
	}
	got, err := s.GetVM(ctx, "dev")
	if err != nil {
		t.Fatalf("GetVM after migration: %v", err)
	}
	want := VM{ID: "00000000000000b1", Name: "dev", State: "stopped", ImageID: "00000000000000a1",
		VCPUs: 2, MemoryMiB: 512, DiskBytes: 4096, Driver: "firecracker", Dir: "/s/dev",
		RuntimeDir: "/r/dev", CreatedAt: fromNanos(2000), UpdatedAt: fromNanos(3000), NAT: true}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("VM after migration (-want +got):\n%s", diff)
	}
	if img, err := s.GetImage(ctx, "golden"); err != nil || img.RootFSSize != 1024 {
		t.Errorf("GetImage after migration = %+v, %v", img, err)
	}
	// The new tables work.
	if err := s.CreateOperation(ctx, testOp(1, "running")); err != nil {
		t.Errorf("CreateOperation after migration: %v", err)
	}
}

func TestReopenIsNoOp(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	mustCreateImage(t, s, 1)
	before := schemaState(t, s.db)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = Open(ctx, path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	if diff := cmp.Diff(before, schemaState(t, s.db)); diff != "" {
		t.Errorf("schema changed on reopen (-before +after):\n%s", diff)
	}
	if imgs, err := s.ListImages(ctx); err != nil || len(imgs) != 1 {
		t.Errorf("ListImages after reopen = %v, %v; want the one image", imgs, err)
	}
}

// schemaState is what a migration would change: the version, SQLite's
// schema cookie (bumped by every schema change) and the schema text.
func schemaState(t *testing.T, db *sql.DB) []string {
	t.Helper()
	ctx := context.Background()
	var version, cookie string
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRowContext(ctx, "PRAGMA schema_version").Scan(&cookie); err != nil {
		t.Fatal(err)
	}
	sqls, err := queryStrings(ctx, db, "SELECT coalesce(sql, name) FROM sqlite_schema ORDER BY name")
	if err != nil {
		t.Fatal(err)
	}
	return append([]string{"user_version " + version, "schema_version " + cookie}, sqls...)
}

func TestNewerDatabaseRefused(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	db := openAt(t, path, latestVersion(t))
	if _, err := db.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", latestVersion(t)+1)); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := Open(ctx, path)
	if err == nil {
		s.Close()
		t.Fatal("Open of a database from a newer banger succeeded")
	}
	if !errdefs.Is(err, errdefs.FailedPrecondition) || !strings.Contains(err.Error(), "upgrade banger") {
		t.Errorf("Open err = %v (kind %q), want FailedPrecondition saying to upgrade banger", err, errdefs.KindOf(err))
	}
}

func TestFailedMigrationRollsBack(t *testing.T) {
	ctx := context.Background()
	db, _, err := openDB(ctx, filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ms := []migration{
		{Version: 1, Name: "0001_a.sql", SQL: "CREATE TABLE a (x INTEGER)"},
		{Version: 2, Name: "0002_b.sql", SQL: "CREATE TABLE b (x INTEGER); INSERT INTO nope VALUES (1)"},
	}
	if err := migrate(ctx, db, ms); err == nil || !strings.Contains(err.Error(), "0002_b.sql") {
		t.Fatalf("migrate err = %v, want an error naming 0002_b.sql", err)
	}
	if v, err := userVersion(ctx, db); err != nil || v != 1 {
		t.Errorf("version after failed migration = %d, %v; want 1", v, err)
	}
	tables, err := queryStrings(ctx, db, "SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"a"}, tables); diff != "" {
		t.Errorf("tables after failed migration (-want +got):\n%s", diff)
	}
}

// latestVersion is the schema version this binary migrates to.
func latestVersion(t testing.TB) int {
	t.Helper()
	ms, err := loadMigrations(migrationFiles)
	if err != nil {
		t.Fatal(err)
	}
	return ms[len(ms)-1].Version
}

// TestMigrateKernelsKeepsThem: kernels recorded before migration 6 keep
// every field, read as found on the command line with no origin, and the
// rebuilt table takes the new source.
func TestMigrateKernelsKeepsThem(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	db := openAt(t, path, 5)
	if _, err := db.ExecContext(ctx, `INSERT INTO kernels VALUES
		('00000000000000c1', 'default', '/s/kernels/c1/vmlinux', '/s/kernels/c1/bzImage', '', '6.1.192-banger', 'built', ?, 123, 4000)`,
		strings.Repeat("ab", 32)); err != nil {
		t.Fatalf("insert kernel at v5: %v", err)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO kernels (id, name, vmlinux, version, source, sha256, size, created_at)
		VALUES ('00000000000000c2', 'x', '/v', '', 'distro', ?, 1, 1)`, strings.Repeat("ab", 32)); err == nil {
		t.Fatal("version 5 took a distro kernel")
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("Open of a version 5 database: %v", err)
	}
	defer s.Close()
	got, err := s.GetKernel(ctx, "default")
	if err != nil {
		t.Fatal(err)
	}
	want := Kernel{ID: "00000000000000c1", Name: "default", Vmlinux: "/s/kernels/c1/vmlinux", BzImage: "/s/kernels/c1/bzImage",
		Version: "6.1.192-banger", Source: "built", SHA256: strings.Repeat("ab", 32), Size: 123, CreatedAt: fromNanos(4000),
		Discovery: "cmdline"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("kernel after migration (-want +got):\n%s", diff)
	}
	k := testKernel(3)
	k.Source, k.Discovery = "distro", "acpi"
	if err := s.CreateKernel(ctx, k); err != nil {
		t.Errorf("a distro kernel after migration: %v", err)
	}
}
