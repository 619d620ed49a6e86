package qemu

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"banger/internal/errdefs"
	"banger/internal/vmm"
)

func TestBootContinuesAndChecksStatus(t *testing.T) {
	f := newFakeQMP(t)
	d := New(Config{})
	p := self(t, f.path)
	if err := d.Boot(context.Background(), vmm.Spec{ID: "vm-1"}, p); err != nil {
		t.Fatalf("Boot: %v", err)
	}
	// Retrying is harmless.
	if err := d.Boot(context.Background(), vmm.Spec{ID: "vm-1"}, p); err != nil {
		t.Fatalf("second Boot: %v", err)
	}
	want := []string{"qmp_capabilities", "cont", "query-status", "qmp_capabilities", "cont", "query-status"}
	if diff := cmp.Diff(want, f.executed()); diff != "" {
		t.Errorf("commands (-want +got):\n%s", diff)
	}
}

func TestBootFailures(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(f *fakeQMP)
		wantErr string
	}{
		{"cont refused", func(f *fakeQMP) { f.failCmd["cont"] = "Resetting the Virtual Machine is required" },
			"Resetting the Virtual Machine is required"},
		{"guest not running", func(f *fakeQMP) { f.afterCont = "internal-error" },
			`"internal-error", not running`},
		{"not qmp", func(f *fakeQMP) { f.greeting = `{"hello": 1}` },
			"did not greet like qemu's QMP"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeQMP(t)
			f.mu.Lock()
			tc.setup(f)
			f.mu.Unlock()
			err := New(Config{}).Boot(context.Background(), vmm.Spec{ID: "vm-1"}, self(t, f.path))
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Boot error = %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestBootRejectsBadProcess(t *testing.T) {
	err := New(Config{}).Boot(context.Background(), vmm.Spec{ID: "vm-1"}, vmm.Process{})
	if got, want := errdefs.KindOf(err), errdefs.InvalidArgument; got != want {
		t.Errorf("Boot(zero process) kind = %q, want %q (%v)", got, want, err)
	}
	for _, field := range []string{"pid 0", "qmp socket is empty"} {
		if err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("Boot error %v does not mention %q", err, field)
		}
	}
}

func TestShutdownSendsCtrlAltDelete(t *testing.T) {
	f := newFakeQMP(t)
	if err := New(Config{}).Shutdown(context.Background(), self(t, f.path)); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if diff := cmp.Diff([]string{"qmp_capabilities", "send-key"}, f.executed()); diff != "" {
		t.Errorf("commands (-want +got):\n%s", diff)
	}
	f.mu.Lock()
	var got struct {
		Keys []keyValue `json:"keys"`
	}
	err := json.Unmarshal(f.args["send-key"], &got)
	f.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	want := []keyValue{{"qcode", "ctrl"}, {"qcode", "alt"}, {"qcode", "delete"}}
	if diff := cmp.Diff(want, got.Keys); diff != "" {
		t.Errorf("send-key keys (-want +got):\n%s", diff)
	}
}

func TestShutdownOfGoneProcess(t *testing.T) {
	err := New(Config{}).Shutdown(context.Background(), vmm.Process{PID: 1 << 30, StartTime: 1, APISocket: "/nonexistent"})
	if !errors.Is(err, vmm.ErrNotRunning) {
		t.Errorf("Shutdown = %v, want ErrNotRunning", err)
	}
}

func TestQMPErrorAnswer(t *testing.T) {
	f := newFakeQMP(t)
	err := qmpDo(context.Background(), f.path, func(c *qmpConn) error { return c.execute("no-such-command", nil, nil) })
	var qe *QMPError
	if !errors.As(err, &qe) || qe.Class != "CommandNotFound" || qe.Command != "no-such-command" {
		t.Errorf("error = %#v, want a CommandNotFound QMPError for no-such-command", err)
	}
}

func TestQMPHonoursContext(t *testing.T) {
	// A socket that accepts and never greets: dialQMP must give up when
	// ctx ends.
	f := newFakeQMP(t)
	f.ln.Close()
	f.wg.Wait()
	ln := listenSilent(t, f.path)
	defer ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := dialQMP(ctx, f.path); err == nil {
		t.Fatal("dialQMP succeeded against a silent socket")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("dialQMP took %s after its context ended", d)
	}
}
