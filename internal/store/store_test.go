package store

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"banger/internal/errdefs"
)

func TestOpenCreatesPrivateWALDatabase(t *testing.T) {
	ctx := context.Background()
	// A '?' and a '%' in the path must not be read as URI syntax.
	dir := filepath.Join(t.TempDir(), "odd ?dir%20")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "state.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	if err := s.CreateImage(ctx, testImage(1)); err != nil {
		t.Fatalf("CreateImage: %v", err)
	}

	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatalf("stat: %v", err)
		}
		if got := fi.Mode().Perm(); got != 0o600 {
			t.Errorf("mode of %s = %o, want 600", filepath.Base(p), got)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 3 {
		t.Errorf("directory holds %d files, want the database, -wal and -shm", len(entries))
	}

	pragmas := []struct{ name, want string }{
		{"journal_mode", "wal"},
		{"foreign_keys", "1"},
		{"busy_timeout", "5000"},
		{"synchronous", "1"},
	}
	for _, p := range pragmas {
		var got string
		if err := s.db.QueryRowContext(ctx, "PRAGMA "+p.name).Scan(&got); err != nil {
			t.Fatalf("PRAGMA %s: %v", p.name, err)
		}
		if got != p.want {
			t.Errorf("PRAGMA %s = %q, want %q", p.name, got, p.want)
		}
	}
	if got, err := s.SchemaVersion(ctx); err != nil || got != latestVersion(t) {
		t.Errorf("SchemaVersion = %d, %v; want %d", got, err, latestVersion(t))
	}
	if err := s.Check(ctx); err != nil {
		t.Errorf("Check on a healthy database: %v", err)
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	garbage := filepath.Join(dir, "garbage.db")
	if err := os.WriteFile(garbage, []byte(strings.Repeat("not a database ", 400)), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		path string
		want errdefs.Kind
	}{
		{"empty path", "", errdefs.InvalidArgument},
		{"missing directory", filepath.Join(dir, "missing", "state.db"), errdefs.FailedPrecondition},
		{"parent is a file", filepath.Join(file, "state.db"), errdefs.FailedPrecondition},
		{"not a database", garbage, errdefs.FailedPrecondition},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(ctx, tt.path)
			if err == nil {
				s.Close()
				t.Fatalf("Open(%q) succeeded, want %s error", tt.path, tt.want)
			}
			if got := errdefs.KindOf(err); got != tt.want {
				t.Errorf("Open(%q) err = %v (kind %q), want kind %q", tt.path, err, got, tt.want)
			}
		})
	}
}

func TestCheckReportsDanglingForeignKeys(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	// Simulate damage the store itself would refuse: a VM whose image row
	// is gone, written by a connection with foreign keys off.
	raw, err := sql.Open("sqlite", path+"?_foreign_keys=0")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.ExecContext(ctx, `INSERT INTO vms (id, name, state, image_id, vcpus, memory_mib,
		disk_bytes, driver, dir, runtime_dir, created_at, updated_at)
		VALUES ('00000000000000aa', 'orphan', 'stopped', '00000000000000ff', 1, 1, 0, 'firecracker', '/d', '/r', 0, 0)`); err != nil {
		t.Fatalf("insert orphan: %v", err)
	}
	err = s.Check(ctx)
	if !errdefs.Is(err, errdefs.FailedPrecondition) || !strings.Contains(err.Error(), "vms row 1 references a missing images") {
		t.Errorf("Check err = %v, want FailedPrecondition naming the orphan row", err)
	}
}

// TestConcurrentCreates runs 100 VM creates alongside readers; with -race
// it also checks the Store is free of data races. No SQLITE_BUSY may leak.
func TestConcurrentCreates(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	img := mustCreateImage(t, s, 1)

	const writers, readers = 100, 10
	errs := make(chan error, writers+readers) // each goroutine sends at most one
	done := make(chan struct{})
	var wg, rg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			vm := testVM(i, img.ID)
			if err := s.CreateVM(ctx, vm); err != nil {
				errs <- fmt.Errorf("CreateVM(%s): %w", vm.Name, err)
				return
			}
			vm.State = "stopped"
			if err := s.UpdateVM(ctx, vm); err != nil {
				errs <- fmt.Errorf("UpdateVM(%s): %w", vm.Name, err)
			}
		})
	}
	for r := range readers {
		rg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				if _, err := s.ListVMs(ctx); err != nil {
					errs <- fmt.Errorf("ListVMs: %w", err)
					return
				}
				if _, err := s.GetVM(ctx, fmt.Sprintf("vm-%d", r)); err != nil && !errdefs.Is(err, errdefs.NotFound) {
					errs <- fmt.Errorf("GetVM: %w", err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(done)
	rg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	vms, err := s.ListVMs(ctx)
	if err != nil {
		t.Fatalf("ListVMs: %v", err)
	}
	if len(vms) != writers {
		t.Fatalf("%d VMs stored, want %d", len(vms), writers)
	}
	for _, vm := range vms {
		if vm.State != "stopped" {
			t.Errorf("VM %s state = %q, want stopped", vm.Name, vm.State)
		}
	}
}

func BenchmarkCreateVM(b *testing.B) {
	ctx := context.Background()
	s := newStore(b)
	img := mustCreateImage(b, s, 1)
	for i := 0; b.Loop(); i++ {
		if err := s.CreateVM(ctx, testVM(i, img.ID)); err != nil {
			b.Fatalf("CreateVM: %v", err)
		}
	}
}
