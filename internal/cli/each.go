package cli

import (
	"context"
	"fmt"
	"sync"
)

// forEach runs fn for every name concurrently, prints each failure on
// stderr as it happens and returns an error when any failed.
func (a *app) forEach(ctx context.Context, verb string, names []string, fn func(ctx context.Context, name string) error) error {
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		failed int
	)
	for _, n := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(ctx, n); err != nil {
				mu.Lock()
				failed++
				printError(a.env.Stderr, fmt.Errorf("%s %s: %w", verb, n, err))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if failed > 0 {
		return exitCode(1)
	}
	return nil
}
