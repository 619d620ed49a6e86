package store

import (
	"context"
	"fmt"
	"testing"
	"time"

	"banger/internal/errdefs"

	"github.com/google/go-cmp/cmp"
)

func testOp(n int, state string) Operation {
	op := Operation{
		ID:        fmt.Sprintf("op-%012x", n),
		Kind:      "vm.create",
		Target:    hexID('b', n),
		State:     state,
		StartedAt: t0.Add(time.Duration(n) * time.Second),
	}
	if state != "running" {
		op.FinishedAt = op.StartedAt.Add(time.Millisecond)
	}
	return op
}

func TestOperationLifecycle(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)

	op := testOp(1, "running")
	op.StartedAt = time.Time{} // defaults to now
	if err := s.CreateOperation(ctx, op); err != nil {
		t.Fatalf("CreateOperation: %v", err)
	}
	op.StartedAt = t0

	steps := []StepRecord{
		{OpID: op.ID, Seq: 1, Step: "alloc_disk", Status: "started", At: t0.Add(1)},
		{OpID: op.ID, Seq: 2, Step: "alloc_disk", Status: "done", At: t0.Add(2)},
		{OpID: op.ID, Seq: 3, Step: "launch", Status: "failed", At: t0.Add(3), Error: "boom"},
		{OpID: op.ID, Seq: 4, Step: "alloc_disk", Status: "undone"},
	}
	for _, i := range []int{2, 0, 3, 1} { // out of order: Steps sorts by Seq
		if err := s.AddStep(ctx, steps[i]); err != nil {
			t.Fatalf("AddStep(%d): %v", steps[i].Seq, err)
		}
	}
	steps[3].At = t0
	gotSteps, err := s.Steps(ctx, op.ID)
	if err != nil {
		t.Fatalf("Steps: %v", err)
	}
	if diff := cmp.Diff(steps, gotSteps); diff != "" {
		t.Errorf("Steps (-want +got):\n%s", diff)
	}

	running, err := s.RunningOperations(ctx)
	if err != nil {
		t.Fatalf("RunningOperations: %v", err)
	}
	if diff := cmp.Diff([]Operation{op}, running); diff != "" {
		t.Errorf("RunningOperations (-want +got):\n%s", diff)
	}

	op.State, op.Step, op.Error = "rolled_back", "launch", "boom"
	op.FinishedAt = t0.Add(time.Second)
	changed := op
	changed.StartedAt = t0.Add(time.Hour) // ignored: StartedAt never changes
	if err := s.UpdateOperation(ctx, changed); err != nil {
		t.Fatalf("UpdateOperation: %v", err)
	}
	got, err := s.GetOperation(ctx, op.ID)
	if err != nil {
		t.Fatalf("GetOperation: %v", err)
	}
	if diff := cmp.Diff(op, got); diff != "" {
		t.Errorf("GetOperation (-want +got):\n%s", diff)
	}
	if running, err := s.RunningOperations(ctx); err != nil || len(running) != 0 {
		t.Errorf("RunningOperations after finish = %v, %v; want none", running, err)
	}
}

func TestListOperations(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	var ops []Operation
	for i := 1; i <= 4; i++ {
		op := testOp(i, "succeeded")
		if err := s.CreateOperation(ctx, op); err != nil {
			t.Fatalf("CreateOperation: %v", err)
		}
		ops = append(ops, op)
	}
	tests := []struct {
		limit int
		want  []Operation
	}{
		{0, []Operation{ops[3], ops[2], ops[1], ops[0]}},
		{-1, []Operation{ops[3], ops[2], ops[1], ops[0]}},
		{2, []Operation{ops[3], ops[2]}},
		{10, []Operation{ops[3], ops[2], ops[1], ops[0]}},
	}
	for _, tt := range tests {
		got, err := s.ListOperations(ctx, tt.limit)
		if err != nil {
			t.Fatalf("ListOperations(%d): %v", tt.limit, err)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("ListOperations(%d) (-want +got):\n%s", tt.limit, diff)
		}
	}
}

func TestPruneOperations(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		keep int
		want []int // op numbers left, newest first
	}{
		{keep: 0, want: []int{4, 1}},
		{keep: 1, want: []int{6, 4, 1}},
		{keep: 3, want: []int{6, 5, 4, 3, 1}},
		{keep: 100, want: []int{6, 5, 4, 3, 2, 1}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint("keep ", tt.keep), func(t *testing.T) {
			s := newStore(t)
			// Ops 1 and 4 are running and are never pruned.
			states := map[int]string{1: "running", 2: "failed", 3: "succeeded", 4: "running", 5: "rolled_back", 6: "succeeded"}
			for i := 1; i <= 6; i++ {
				op := testOp(i, states[i])
				if err := s.CreateOperation(ctx, op); err != nil {
					t.Fatalf("CreateOperation: %v", err)
				}
				if err := s.AddStep(ctx, StepRecord{OpID: op.ID, Seq: 1, Step: "s", Status: "done"}); err != nil {
					t.Fatalf("AddStep: %v", err)
				}
			}
			if err := s.PruneOperations(ctx, tt.keep); err != nil {
				t.Fatalf("PruneOperations: %v", err)
			}
			ops, err := s.ListOperations(ctx, 0)
			if err != nil {
				t.Fatalf("ListOperations: %v", err)
			}
			var got []int
			for _, op := range ops {
				var n int
				fmt.Sscanf(op.ID, "op-%x", &n)
				got = append(got, n)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("operations left (-want +got):\n%s", diff)
			}
			// Steps of pruned operations went with them.
			var steps int
			if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM op_steps`).Scan(&steps); err != nil {
				t.Fatal(err)
			}
			if steps != len(tt.want) {
				t.Errorf("%d step records left, want %d", steps, len(tt.want))
			}
		})
	}
}

func TestOperationErrors(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	op := testOp(1, "running")
	if err := s.CreateOperation(ctx, op); err != nil {
		t.Fatalf("CreateOperation: %v", err)
	}
	if err := s.AddStep(ctx, StepRecord{OpID: op.ID, Seq: 1, Step: "a", Status: "started"}); err != nil {
		t.Fatalf("AddStep: %v", err)
	}
	empty := testOp(2, "running")
	if err := s.CreateOperation(ctx, empty); err != nil {
		t.Fatalf("CreateOperation: %v", err)
	}
	badState := testOp(3, "done")
	noKind := testOp(3, "running")
	noKind.Kind = ""
	missing := testOp(9, "failed")

	tests := []struct {
		name string
		op   func() error
		want errdefs.Kind
	}{
		{"create duplicate", func() error { return s.CreateOperation(ctx, op) }, errdefs.AlreadyExists},
		{"create bad state", func() error { return s.CreateOperation(ctx, badState) }, errdefs.InvalidArgument},
		{"create without kind", func() error { return s.CreateOperation(ctx, noKind) }, errdefs.InvalidArgument},
		{"update missing", func() error { return s.UpdateOperation(ctx, missing) }, errdefs.NotFound},
		{"update bad state", func() error { o := op; o.State = "done"; return s.UpdateOperation(ctx, o) }, errdefs.InvalidArgument},
		{"get missing", func() error { _, err := s.GetOperation(ctx, missing.ID); return err }, errdefs.NotFound},
		{"step for missing op", func() error {
			return s.AddStep(ctx, StepRecord{OpID: missing.ID, Seq: 1, Step: "a", Status: "started"})
		}, errdefs.NotFound},
		{"step seq taken", func() error {
			return s.AddStep(ctx, StepRecord{OpID: op.ID, Seq: 1, Step: "b", Status: "started"})
		}, errdefs.AlreadyExists},
		{"step bad status", func() error {
			return s.AddStep(ctx, StepRecord{OpID: op.ID, Seq: 2, Step: "b", Status: "ok"})
		}, errdefs.InvalidArgument},
		{"steps of missing op", func() error { _, err := s.Steps(ctx, missing.ID); return err }, errdefs.NotFound},
		{"prune negative", func() error { return s.PruneOperations(ctx, -1) }, errdefs.InvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.op()
			if got := errdefs.KindOf(err); got != tt.want {
				t.Errorf("err = %v (kind %q), want kind %q", err, got, tt.want)
			}
		})
	}

	got, err := s.Steps(ctx, empty.ID)
	if err != nil || got == nil || len(got) != 0 {
		t.Errorf("Steps of an operation without steps = %#v, %v; want empty, nil", got, err)
	}
}
