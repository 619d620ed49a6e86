package client

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"banger/internal/api"
)

// cancelWriter collects what is written and cancels once it has seen want.
type cancelWriter struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	want   string
	cancel context.CancelFunc
}

func (w *cancelWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n, err := w.buf.Write(p)
	if strings.Contains(w.buf.String(), w.want) {
		w.cancel()
	}
	return n, err
}

func TestLogsFollowStopsOnCancel(t *testing.T) {
	handlerDone := make(chan struct{})
	c := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(handlerDone)
		if r.URL.Query().Get("follow") != "1" {
			http.Error(w, "want follow=1", http.StatusBadRequest)
			return
		}
		_, _ = w.Write([]byte("booting\nlogin: "))
		w.(http.Flusher).Flush()
		<-r.Context().Done() // follow until the client hangs up
	}))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ctx, stop := context.WithCancel(ctx)
	w := &cancelWriter{want: "login: ", cancel: stop}
	if err := c.Logs(ctx, "brave-otter", 0, true, w); err != nil {
		t.Fatalf("Logs: %v", err)
	}
	w.mu.Lock()
	if got, want := w.buf.String(), "booting\nlogin: "; got != want {
		t.Errorf("Logs copied %q, want %q", got, want)
	}
	w.mu.Unlock()
	select {
	case <-handlerDone:
	case <-time.After(5 * time.Second):
		t.Error("the daemon's handler still runs 5s after the client cancelled")
	}
}

func TestEvents(t *testing.T) {
	events := []api.Event{
		{Type: api.EventVM, Time: t1, Target: "brave-otter", State: api.StateStarting},
		{Type: api.EventStep, Time: t1, OpID: "op-1", Kind: "vm.start", Target: "brave-otter", Step: "boot", Index: 1, Total: 1},
		{Type: api.EventVM, Time: t1, Target: "brave-otter", State: api.StateRunning},
	}
	lines := []string{eventLine(t, events[0]), eventLine(t, events[1]), eventLine(t, events[2])}

	t.Run("until cancel", func(t *testing.T) {
		c := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodGet || r.URL.Path != "/v1/events" {
				http.Error(w, "wrong route", http.StatusNotFound)
				return
			}
			streamLines(w, lines...)
			<-r.Context().Done()
		}))
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		ctx, stop := context.WithCancel(ctx)
		var got []api.Event
		err := c.Events(ctx, func(ev api.Event) {
			got = append(got, ev)
			if len(got) == len(events) {
				stop()
			}
		})
		if err != nil {
			t.Fatalf("Events: %v", err)
		}
		if ctx.Err() == nil {
			t.Fatal("Events returned before the context was cancelled")
		}
		if diff := cmp.Diff(events, got); diff != "" {
			t.Errorf("events (-want +got):\n%s", diff)
		}
	})

	t.Run("daemon stops", func(t *testing.T) {
		c := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			streamLines(w, lines[:2]...)
		}))
		var got []api.Event
		if err := c.Events(context.Background(), func(ev api.Event) { got = append(got, ev) }); err != nil {
			t.Fatalf("Events: %v", err)
		}
		if diff := cmp.Diff(events[:2], got); diff != "" {
			t.Errorf("events (-want +got):\n%s", diff)
		}
	})

	t.Run("garbage", func(t *testing.T) {
		c := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			streamLines(w, lines[0], "not json")
		}))
		n := 0
		err := c.Events(context.Background(), func(api.Event) { n++ })
		if err == nil {
			t.Fatal("Events of a garbage line: no error")
		}
		if n != 1 {
			t.Errorf("fn called %d times, want 1", n)
		}
	})
}
