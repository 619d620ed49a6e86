package disk

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestFlightSharesOneRun(t *testing.T) {
	var g flight
	var runs atomic.Int64
	release := make(chan struct{})
	started := make(chan struct{})
	boom := errors.New("boom")
	fn := func(context.Context) error {
		runs.Add(1)
		close(started)
		<-release
		return boom
	}
	const waiters = 20
	errs := make([]error, waiters+1)
	var wg sync.WaitGroup
	wg.Go(func() { errs[0] = g.do(context.Background(), 1, fn) })
	<-started
	for i := 1; i <= waiters; i++ {
		wg.Go(func() { errs[i] = g.do(context.Background(), 1, fn) })
	}
	// Another key is independent and not blocked by key 1.
	if err := g.do(context.Background(), 2, func(context.Context) error { return nil }); err != nil {
		t.Errorf("key 2: %v", err)
	}
	waitForWaiters(t, &g, 1, waiters)
	close(release)
	wg.Wait()
	if got := runs.Load(); got != 1 {
		t.Errorf("runs = %d, want 1", got)
	}
	for i, err := range errs {
		if !errors.Is(err, boom) {
			t.Errorf("caller %d got %v, want the shared error", i, err)
		}
	}
}

// waitForWaiters blocks until n callers wait on the run in flight for key.
func waitForWaiters(t *testing.T, g *flight, key int64, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		g.mu.Lock()
		c, ok := g.calls[key]
		got := 0
		if ok {
			got = c.waiters
		}
		g.mu.Unlock()
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d callers wait on key %d, want %d", got, key, n)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestFlightWaiterTakesOverFromCancelledLeader(t *testing.T) {
	var g flight
	var runs atomic.Int64
	leaderCtx, cancelLeader := context.WithCancel(context.Background())
	started := make(chan struct{})
	fn := func(ctx context.Context) error {
		if runs.Add(1) == 1 {
			close(started)
			<-ctx.Done()
			return ctx.Err()
		}
		return nil
	}
	var leaderErr, waiterErr error
	var wg sync.WaitGroup
	wg.Go(func() { leaderErr = g.do(leaderCtx, 7, fn) })
	<-started
	wg.Go(func() { waiterErr = g.do(context.Background(), 7, fn) })
	waitForWaiters(t, &g, 7, 1)
	cancelLeader()
	wg.Wait()
	if !errors.Is(leaderErr, context.Canceled) {
		t.Errorf("leader got %v, want context.Canceled", leaderErr)
	}
	if waiterErr != nil {
		t.Errorf("waiter got %v, want nil after running fn itself", waiterErr)
	}
	if got := runs.Load(); got != 2 {
		t.Errorf("runs = %d, want 2", got)
	}
}

func TestFlightWaiterCancelled(t *testing.T) {
	var g flight
	release := make(chan struct{})
	started := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		_ = g.do(context.Background(), 3, func(context.Context) error { close(started); <-release; return nil })
	})
	<-started
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := g.do(ctx, 3, func(context.Context) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled waiter got %v, want context.Canceled", err)
	}
	close(release)
	wg.Wait()
}
