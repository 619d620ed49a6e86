package disk

import (
	"context"
	"errors"
	"sync"
)

// flight runs at most one function per key at a time; callers that arrive
// while one runs wait for it and share its result. When the running
// caller's context is cancelled, a waiter whose own context is still live
// takes over instead of inheriting that cancellation.
type flight struct {
	mu    sync.Mutex
	calls map[int64]*flightCall
}

type flightCall struct {
	done    chan struct{}
	err     error
	waiters int // callers waiting on done, guarded by flight.mu
}

// do runs fn for key unless a run is already in flight, in which case it
// waits for that run (or for ctx) and returns its error.
func (g *flight) do(ctx context.Context, key int64, fn func(context.Context) error) error {
	for {
		g.mu.Lock()
		if c, ok := g.calls[key]; ok {
			c.waiters++
			g.mu.Unlock()
			select {
			case <-c.done:
				if isCancellation(c.err) && ctx.Err() == nil {
					continue
				}
				return c.err
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if g.calls == nil {
			g.calls = make(map[int64]*flightCall)
		}
		c := &flightCall{done: make(chan struct{})}
		g.calls[key] = c
		g.mu.Unlock()

		c.err = fn(ctx)

		g.mu.Lock()
		delete(g.calls, key)
		g.mu.Unlock()
		close(c.done)
		return c.err
	}
}

func isCancellation(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
