package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"banger/internal/api"
	"banger/internal/client"
	"banger/internal/workspace"
)

// shipWorkspace streams the checkout into VM name at gp, showing progress
// on a terminal, and says what it shipped.
func (a *app) shipWorkspace(ctx context.Context, cl *client.Client, name string, co *workspace.Checkout, gp string, depth int) (api.VM, error) {
	start := time.Now()
	pr, pw := io.Pipe()
	cw := &countingWriter{w: pw}
	stop := a.showShipProgress(cw, co.TotalSize())
	var wg sync.WaitGroup
	var tarErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		tarErr = co.WriteTar(ctx, cw, depth)
		pw.CloseWithError(tarErr)
	}()
	v, err := cl.PrepareWorkspace(ctx, name, client.WorkspaceTarget{HostPath: co.Root, GuestPath: gp, Base: co.Head,
		Branch: co.Branch, Origin: co.Origin, UserName: co.UserName, UserEmail: co.UserEmail}, pr)
	pr.CloseWithError(errStoppedReading)
	wg.Wait()
	stop()
	// The daemon's answer says more than the pipe it stopped reading.
	if tarErr != nil && !errors.Is(tarErr, errStoppedReading) {
		return api.VM{}, tarErr
	}
	if err != nil {
		return api.VM{}, err
	}
	on := "detached HEAD"
	if co.Branch != "" {
		on = "branch " + co.Branch
	}
	fmt.Fprintf(a.env.Stderr, "banger: shipped %d files (%s; %s sent, history included) from %s to %s:%s in %.1fs (%s at %s)\n",
		len(co.Files), humanBytes(co.TotalSize()), humanBytes(cw.count()), co.Root, name, gp,
		time.Since(start).Seconds(), on, shortCommit(co.Head))
	return v, nil
}

// humanBytes is n in the largest binary unit that keeps it at or above 1,
// with one decimal: "2.5 MiB".
func humanBytes(n int64) string {
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	f, unit := float64(n)/1024, "KiB"
	for _, u := range []string{"MiB", "GiB", "TiB"} {
		if f < 1024 {
			break
		}
		f, unit = f/1024, u
	}
	return fmt.Sprintf("%.1f %s", f, unit)
}

// errStoppedReading ends the tar writer when the request has ended.
var errStoppedReading = errors.New("the daemon stopped reading the workspace")

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w  io.Writer
	mu sync.Mutex
	n  int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.mu.Lock()
	c.n += int64(n)
	c.mu.Unlock()
	return n, err
}

func (c *countingWriter) count() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// showShipProgress reports the bytes sent until the returned function is
// called: redrawn in place on a terminal, elsewhere a line every few
// seconds once the transfer has taken that long (a small repository
// prints nothing).
func (a *app) showShipProgress(cw *countingWriter, files int64) func() {
	tty := isTerminal(a.env.Stderr)
	every := 200 * time.Millisecond
	if !tty {
		every = 3 * time.Second
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				if tty {
					fmt.Fprint(a.env.Stderr, "\r\033[K")
				}
				return
			case <-t.C:
				msg := fmt.Sprintf("banger: shipping workspace: %s sent (%s of files)", humanBytes(cw.count()), humanBytes(files))
				if tty {
					fmt.Fprint(a.env.Stderr, "\r\033[K"+msg)
				} else {
					fmt.Fprintln(a.env.Stderr, msg)
				}
			}
		}
	}()
	return func() { close(done); <-finished }
}
