package vm

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"banger/internal/errdefs"
	"banger/internal/store"
	"banger/internal/vmm"
)

func TestFork(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, envOpts{})
	e.create("src")
	e.start("src")
	copies, err := e.svc.Fork(ctx, "op-fork", "src", ForkRequest{Name: "f", Count: 3}, nil)
	if err != nil {
		t.Fatalf("Fork: %v", err)
	}
	var got []string
	for _, c := range copies {
		got = append(got, c.Name)
		if c.State != StateRunning || c.Snapshot != "src-fork-1" {
			t.Errorf("copy %s: %s from %q, want running from src-fork-1", c.Name, c.State, c.Snapshot)
		}
	}
	if strings.Join(got, " ") != "f-1 f-2 f-3" {
		t.Errorf("copies: %v", got)
	}
	sn, err := e.svc.GetSnapshot(ctx, "src-fork-1")
	if err != nil || !sn.Auto || sn.VM != "src" {
		t.Fatalf("fork snapshot = %+v, %v; want an automatic snapshot of src", sn, err)
	}
	if _, err := e.store.GetOperation(ctx, "op-fork-snapshot"); err != nil {
		t.Errorf("the fork's snapshot operation: %v", err)
	}
	if _, err := e.store.GetOperation(ctx, "op-fork-3"); err != nil {
		t.Errorf("the third copy's operation: %v", err)
	}
	// A second fork of src makes its own snapshot; one copy takes the
	// name as it is.
	one, err := e.svc.Fork(ctx, "", "src", ForkRequest{Name: "solo"}, nil)
	if err != nil || len(one) != 1 || one[0].Name != "solo" || one[0].Snapshot != "src-fork-2" {
		t.Fatalf("Fork of one = %+v, %v", one, err)
	}
	// The snapshot goes with its last VM.
	for _, name := range []string{"f-1", "f-2"} {
		if err := e.svc.Delete(ctx, "", name, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.svc.GetSnapshot(ctx, "src-fork-1"); err != nil {
		t.Errorf("fork snapshot gone while f-3 uses it: %v", err)
	}
	if err := e.svc.Delete(ctx, "", "f-3", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.GetSnapshot(ctx, "src-fork-1"); !errdefs.Is(err, errdefs.NotFound) {
		t.Errorf("fork snapshot after its last VM was deleted: %v, want not_found", err)
	}
	// A snapshot made by hand stays when its last VM goes.
	if _, err := e.svc.SnapshotVM(ctx, "", "src", "kept", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.CreateFromSnapshot(ctx, "", "kept", CreateRequest{Name: "k"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Delete(ctx, "", "k", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.GetSnapshot(ctx, "kept"); err != nil {
		t.Errorf("a named snapshot went with its last VM: %v", err)
	}
}

func TestForkRefusals(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, envOpts{})
	e.create("src")
	if _, err := e.svc.Fork(ctx, "", "src", ForkRequest{}, nil); !errdefs.Is(err, errdefs.FailedPrecondition) {
		t.Errorf("Fork of a stopped VM = %v, want failed_precondition", err)
	}
	e.start("src")
	for name, req := range map[string]ForkRequest{
		"count":      {Count: maxForks + 1},
		"negative":   {Count: -1},
		"bad name":   {Name: "Bad"},
		"taken name": {Name: "src"},
	} {
		if _, err := e.svc.Fork(ctx, "", "src", req, nil); err == nil {
			t.Errorf("%s: Fork(%+v) succeeded", name, req)
		}
	}
	if list, _ := e.svc.Snapshots(ctx); len(list) != 0 {
		t.Errorf("refused forks left snapshots: %+v", list)
	}
}

// TestForkFailureRemovesSnapshot: a fork whose copies all fail leaves
// neither a VM nor its snapshot.
func TestForkFailureRemovesSnapshot(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, envOpts{hooks: Hooks{BeforeStep: func(kind, step string) error {
		if kind == restoreKind && step == "load-snapshot" {
			return errors.New("injected failure")
		}
		return nil
	}}})
	e.create("src")
	e.start("src")
	copies, err := e.svc.Fork(ctx, "", "src", ForkRequest{Count: 2}, nil)
	if err == nil || !strings.Contains(err.Error(), "injected failure") || copies != nil {
		t.Fatalf("Fork = %+v, %v; want no copy and the injected failure", copies, err)
	}
	assertOnlyVM(t, e, "src")
	if list, _ := e.svc.Snapshots(ctx); len(list) != 0 {
		t.Errorf("a fork that made no copy left snapshots: %+v", list)
	}
}

// loadDriver runs load before each Restore (the fake Firecracker's PUT
// /snapshot/load) with the name of the VM loading, and counts the loads
// in flight at once.
type loadDriver struct {
	vmm.Driver
	load func(ctx context.Context, name string) error

	mu       sync.Mutex
	store    *store.Store // set once the env is made
	in, most int
}

func (d *loadDriver) Restore(ctx context.Context, spec vmm.Spec, p vmm.Process, files vmm.SnapshotFiles) error {
	d.mu.Lock()
	d.in++
	d.most = max(d.most, d.in)
	st := d.store
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		d.in--
		d.mu.Unlock()
	}()
	rec, err := st.GetVM(ctx, spec.ID)
	if err != nil {
		return err
	}
	if err := d.load(ctx, rec.Name); err != nil {
		return err
	}
	return d.Driver.Restore(ctx, spec, p, files)
}

func (d *loadDriver) mostInFlight() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.most
}

// forkEnv is an env whose loads go through a loadDriver running load.
func forkEnv(t *testing.T, load func(ctx context.Context, name string) error) (*env, *loadDriver) {
	ld := &loadDriver{load: load}
	e := newEnv(t, envOpts{driver: func(d vmm.Driver) vmm.Driver { ld.Driver = d; return ld }})
	ld.mu.Lock()
	ld.store = e.store
	ld.mu.Unlock()
	return e, ld
}

// gate lets its callers through once n of them are waiting; a caller
// that waits longer than a minute fails (the copies were not made at
// the same time).
type gate struct {
	mu   sync.Mutex
	n    int
	open chan struct{}
}

func newGate(n int) *gate { return &gate{n: n, open: make(chan struct{})} }

func (g *gate) wait(ctx context.Context) error {
	g.mu.Lock()
	g.n--
	if g.n == 0 {
		close(g.open)
	}
	g.mu.Unlock()
	select {
	case <-g.open:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(time.Minute):
		return errors.New("the other copies' loads never came: copies made one at a time")
	}
}

// TestForkMakesCopiesConcurrently: the copies of one fork load their
// snapshot at the same time, at most forkLimit of them, and come back in
// the order of their names, each its own VM.
func TestForkMakesCopiesConcurrently(t *testing.T) {
	ctx := context.Background()
	g := newGate(2)
	e, ld := forkEnv(t, func(ctx context.Context, _ string) error { return g.wait(ctx) })
	e.svc.forkLimit = 2
	e.create("src")
	e.start("src")
	copies, err := e.svc.Fork(ctx, "op", "src", ForkRequest{Name: "f", Count: 4}, nil)
	if err != nil {
		t.Fatalf("Fork: %v", err)
	}
	var got []string
	ids, dirs := map[string]bool{}, map[string]bool{}
	for _, c := range copies {
		got = append(got, c.Name)
		ids[c.ID], dirs[c.Dir] = true, true
		if c.State != StateRunning {
			t.Errorf("copy %s is %s, want running", c.Name, c.State)
		}
	}
	if diff := cmp.Diff([]string{"f-1", "f-2", "f-3", "f-4"}, got); diff != "" {
		t.Errorf("copies (-want +got):\n%s", diff)
	}
	if len(ids) != 4 || len(dirs) != 4 {
		t.Errorf("copies share ids or directories: %+v", copies)
	}
	if n := ld.mostInFlight(); n != 2 {
		t.Errorf("%d loads in flight at most, want forkLimit (2)", n)
	}
	// Generated names: distinct, sorted.
	g2 := newGate(3)
	ld.mu.Lock()
	ld.load = func(ctx context.Context, _ string) error { return g2.wait(ctx) }
	ld.mu.Unlock()
	e.svc.forkLimit = 3
	copies, err = e.svc.Fork(ctx, "", "src", ForkRequest{Count: 3}, nil)
	if err != nil {
		t.Fatalf("Fork with generated names: %v", err)
	}
	got = got[:0]
	for _, c := range copies {
		got = append(got, c.Name)
	}
	if len(got) != 3 || !slices.IsSorted(got) || got[0] == got[1] || got[1] == got[2] {
		t.Errorf("generated copy names %v, want 3 distinct sorted", got)
	}
}

// TestForkFailureDiscardsCopies: when copy 2 of 3 fails with copy 1 made
// and copy 3 loading, copy 3 is cancelled and rolled back, copy 1 is
// deleted and the snapshot removed: the fork is all or nothing.
func TestForkFailureDiscardsCopies(t *testing.T) {
	ctx := context.Background()
	var (
		third     = make(chan struct{}) // closed when g-3 is loading
		cancelled = make(chan struct{}) // closed when g-3's load is cancelled
		st        *store.Store
	)
	e, _ := forkEnv(t, func(ctx context.Context, name string) error {
		switch name {
		case "g-2":
			// Fail once g-1 is made and g-3 is in flight.
			select {
			case <-third:
			case <-time.After(time.Minute):
				return errors.New("g-3 never loaded while g-2 did: copies made one at a time")
			}
			for {
				if v, err := st.GetVM(ctx, "g-1"); err == nil && v.State == string(StateRunning) {
					return errors.New("injected failure")
				}
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(10 * time.Millisecond):
				}
			}
		case "g-3":
			close(third)
			select {
			case <-ctx.Done():
				close(cancelled)
				return ctx.Err()
			case <-time.After(time.Minute):
				return errors.New("g-3 was not cancelled when g-2 failed")
			}
		}
		return nil
	})
	st = e.store
	e.svc.forkLimit = 3
	e.create("src")
	e.start("src")
	copies, err := e.svc.Fork(ctx, "op", "src", ForkRequest{Name: "g", Count: 3}, nil)
	if err == nil || !strings.Contains(err.Error(), "copy 2 of 3 (g-2)") || !strings.Contains(err.Error(), "injected failure") {
		t.Fatalf("Fork = %v, want copy 2's injected failure", err)
	}
	if copies != nil {
		t.Errorf("a failed fork returned copies: %+v", copies)
	}
	select {
	case <-cancelled:
	default:
		t.Error("g-3's load was not cancelled")
	}
	assertOnlyVM(t, e, "src")
	if list, _ := e.svc.Snapshots(ctx); len(list) != 0 {
		t.Errorf("a failed fork left snapshots: %+v", list)
	}
	for id, want := range map[string]string{"op-1": "succeeded", "op-1-discard": "succeeded", "op-2": "rolled_back", "op-3": "rolled_back"} {
		o, err := e.store.GetOperation(ctx, id)
		if err != nil || o.State != want {
			t.Errorf("operation %s: %+v, %v; want %s", id, o, err, want)
		}
	}
}

// TestReconcileDropsUnusedForkSnapshot: a fork snapshot no VM uses (the
// daemon died before the first copy, or after deleting the last) is
// removed at start-up.
func TestReconcileDropsUnusedForkSnapshot(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, envOpts{})
	e.create("src")
	e.start("src")
	if _, err := e.svc.snapshotVM(ctx, "", "src", "src-fork-1", true, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.SnapshotVM(ctx, "", "src", "named", nil); err != nil {
		t.Fatal(err)
	}
	e.restarted()
	if _, err := e.svc.GetSnapshot(ctx, "src-fork-1"); !errdefs.Is(err, errdefs.NotFound) {
		t.Errorf("unused fork snapshot after reconcile: %v, want not_found", err)
	}
	if _, err := e.svc.GetSnapshot(ctx, "named"); err != nil {
		t.Errorf("named snapshot after reconcile: %v", err)
	}
}
