package main

import (
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestPatchVM: PATCH /vm pauses and resumes a booted microVM, is refused
// before boot with Firecracker's message, is idempotent, and checks its
// body as serde does.
func TestPatchVM(t *testing.T) {
	f := startFake(t)
	status, resp := f.do("PATCH", "/vm", `{"state":"Paused"}`)
	if status != http.StatusBadRequest || !strings.Contains(resp, "The requested operation is not supported before starting the microVM.") {
		t.Errorf("PATCH /vm before boot: got %d %s, want 400 with the pre-boot fault", status, resp)
	}
	f.boot()
	for _, tc := range []struct {
		body, state string
	}{
		{`{"state":"Paused"}`, "Paused"},
		{`{"state":"Paused"}`, "Paused"},
		{`{"state":"Resumed"}`, "Running"},
		{`{"state":"Resumed"}`, "Running"},
	} {
		if status, resp := f.do("PATCH", "/vm", tc.body); status != http.StatusNoContent {
			t.Fatalf("PATCH /vm %s: got %d %s, want 204", tc.body, status, resp)
		}
		if got := f.getJSON("/").(map[string]any)["state"]; got != tc.state {
			t.Errorf("state after PATCH /vm %s: got %v, want %s", tc.body, got, tc.state)
		}
	}
	for _, tc := range []struct{ body, want string }{
		{`{"state":"Stopped"}`, "unknown variant `Stopped`"},
		{`{}`, "missing field `state`"},
		{`{"state":"Paused","x":1}`, "unknown field `x`"},
		{"", "Empty PATCH request."},
	} {
		status, resp := f.do("PATCH", "/vm", tc.body)
		if status != http.StatusBadRequest || !strings.Contains(resp, tc.want) {
			t.Errorf("PATCH /vm %q: got %d %s, want 400 containing %q", tc.body, status, resp, tc.want)
		}
	}
	f.signal(syscall.SIGKILL)
	f.waitExit(5 * time.Second)
}

// TestCtrlAltDelWhilePaused: a paused guest runs no code, so it resets on
// CTRL+ALT+DEL only once resumed.
func TestCtrlAltDelWhilePaused(t *testing.T) {
	f := startFake(t)
	f.boot()
	if status, resp := f.do("PATCH", "/vm", `{"state":"Paused"}`); status != http.StatusNoContent {
		t.Fatalf("PATCH /vm Paused: %d %s", status, resp)
	}
	f.mustPut("/actions", `{"action_type":"SendCtrlAltDel"}`)
	select {
	case <-f.exited:
		t.Fatalf("paused fake exited on CTRL+ALT+DEL: %v", f.state)
	case <-time.After(4 * guestShutdownDelay):
	}
	if status, resp := f.do("PATCH", "/vm", `{"state":"Resumed"}`); status != http.StatusNoContent {
		t.Fatalf("PATCH /vm Resumed: %d %s", status, resp)
	}
	if st := f.waitExit(5 * time.Second); !st.Exited() || st.ExitCode() != 0 {
		t.Errorf("exit after resume: got %v, want exit status 0", st)
	}
}
