package daemon

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"banger/internal/api"
	"banger/internal/process"
)

// drain reads an open stream in its own goroutine: every line goes to
// lines, and done closes when the stream ends, with the read error in err.
type drain struct {
	lines chan string
	done  chan struct{}
	err   error
}

func startDrain(wg *sync.WaitGroup, body io.ReadCloser) *drain {
	d := &drain{lines: make(chan string, 1024), done: make(chan struct{})}
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(d.done)
		defer body.Close()
		rd := bufio.NewReader(body)
		for {
			line, err := rd.ReadString('\n')
			if line != "" {
				select {
				case d.lines <- line:
				default: // nobody needs more than the buffer holds
				}
			}
			if err != nil {
				if !errors.Is(err, io.EOF) {
					d.err = err
				}
				return
			}
		}
	}()
	return d
}

// waitFor returns the first line for which match is true, failing t if
// none arrives within timeout.
func (d *drain) waitFor(t *testing.T, timeout time.Duration, match func(string) bool) string {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case line := <-d.lines:
			if match(line) {
				return line
			}
		case <-d.done:
			t.Fatalf("stream ended before the expected line (err %v)", d.err)
		case <-deadline:
			t.Fatalf("no expected line on the stream within %v", timeout)
		}
	}
}

func TestShutdownLeavesVMsRunning(t *testing.T) {
	td := startDaemon(t, daemonOpts{})
	img := td.registerImage("base")

	events := td.open("GET", "/v1/events", "")
	if events.StatusCode != http.StatusOK || events.Header.Get("Content-Type") != api.NDJSON {
		t.Fatalf("GET /v1/events: status %d, Content-Type %q", events.StatusCode, events.Header.Get("Content-Type"))
	}
	var readers sync.WaitGroup
	defer readers.Wait()
	evs := startDrain(&readers, events.Body)

	resp, body := td.do("POST", "/v1/vms", smallVM("keeper", img.Name, true))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create and start: status %d: %s", resp.StatusCode, body)
	}
	var v api.VM
	decodeStrict(t, body, &v)
	if v.State != api.StateRunning || v.PID <= 0 {
		t.Fatalf("VM after create+start = %+v, want running with a pid", v)
	}
	pidStart, _, err := process.StartTime(v.PID)
	if err != nil {
		t.Fatalf("VMM pid %d: %v", v.PID, err)
	}
	evs.waitFor(t, 5*time.Second, func(line string) bool {
		var ev api.Event
		return json.Unmarshal([]byte(line), &ev) == nil && ev.Type == api.EventVM &&
			ev.Target == "keeper" && ev.State == api.StateRunning
	})

	logs := td.open("GET", "/v1/vms/keeper/logs?follow=1", "")
	if logs.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(logs.Body)
		logs.Body.Close()
		t.Fatalf("GET logs?follow=1: status %d: %s", logs.StatusCode, b)
	}
	logDrain := startDrain(&readers, logs.Body)

	began := time.Now()
	if err := td.stop(); err != nil {
		t.Errorf("Serve returned %v, want nil after a graceful shutdown", err)
	}
	if took := time.Since(began); took > 5*time.Second {
		t.Errorf("Serve took %v to return with two streams open, want under 5s", took)
	}
	for name, d := range map[string]*drain{"events": evs, "logs": logDrain} {
		select {
		case <-d.done:
			if d.err != nil {
				t.Errorf("%s stream ended with %v, want a clean end", name, d.err)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("%s stream still open 5s after shutdown", name)
		}
	}

	if !process.Alive(v.PID, pidStart) {
		t.Errorf("VMM pid %d died with the daemon; VMs must keep running", v.PID)
	}
	rec, err := td.d.store.GetVM(context.Background(), "keeper")
	if err != nil || rec.State != api.StateRunning || rec.PID != v.PID {
		t.Errorf("VM record after shutdown = %+v (err %v), want running with pid %d", rec, err, v.PID)
	}
	if _, err := os.Lstat(td.layout.Socket()); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("socket %s left after shutdown (err %v)", td.layout.Socket(), err)
	}
	if recs := td.logs.find(t, map[string]any{"msg": "shutting down; VMs keep running"}); len(recs) != 1 {
		t.Errorf("want one shutdown log record, got %d", len(recs))
	}
	// The harness's cleanup kills the VMM.
}
