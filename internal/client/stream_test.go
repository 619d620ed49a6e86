package client

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"banger/internal/api"
	"banger/internal/errdefs"
)

var t1 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func step(i int, name string) api.Event {
	return api.Event{Type: api.EventStep, Time: t1, OpID: "op-7", Kind: "vm.create", Target: "brave-otter", Step: name, Index: i, Total: 3}
}

func TestCreateVMStream(t *testing.T) {
	vm := &api.VM{ID: "00000000000000aa", Name: "brave-otter", State: api.StateRunning, Image: "debian", VCPUs: 2, MemoryMiB: 1024, Driver: "firecracker", CreatedAt: t1}
	steps := []api.Event{step(1, "reserve"), step(2, "copy-root-disk"), step(3, "boot")}

	tests := []struct {
		name      string
		lines     func(t *testing.T) []string
		hangUp    bool // close the connection after the lines
		wantSteps []api.Event
		wantVM    *api.VM
		wantKind  errdefs.Kind
		wantMsg   string // prefix of the error
		wantOpID  string
	}{
		{
			name: "steps then result",
			lines: func(t *testing.T) []string {
				return []string{eventLine(t, steps[0]), eventLine(t, steps[1]), eventLine(t, steps[2]),
					eventLine(t, api.Event{Type: api.EventResult, Time: t1, OpID: "op-7", VM: vm})}
			},
			wantSteps: steps,
			wantVM:    vm,
		},
		{
			name: "error event",
			lines: func(t *testing.T) []string {
				return []string{eventLine(t, steps[0]), eventLine(t, api.Event{Type: api.EventError, OpID: "op-7",
					Error: &api.Error{Code: "unavailable", Message: "no free tap device: raise net.max_vms", OpID: "op-7"}})}
			},
			wantSteps: steps[:1],
			wantKind:  errdefs.Unavailable,
			wantMsg:   "no free tap device: raise net.max_vms",
			wantOpID:  "op-7",
		},
		{
			name: "error event without details",
			lines: func(t *testing.T) []string {
				return []string{eventLine(t, api.Event{Type: api.EventError, OpID: "op-8"})}
			},
			wantKind: errdefs.Internal,
			wantMsg:  "bangerd reported an error without details (op op-8)",
		},
		{
			name: "stream ends without result",
			lines: func(t *testing.T) []string {
				return []string{eventLine(t, steps[0]), eventLine(t, steps[1])}
			},
			wantSteps: steps[:2],
			wantKind:  errdefs.Unavailable,
			wantMsg:   "bangerd closed the stream before the operation finished",
		},
		{
			name: "connection lost mid-stream",
			lines: func(t *testing.T) []string {
				return []string{eventLine(t, steps[0])}
			},
			hangUp:    true,
			wantSteps: steps[:1],
			wantKind:  errdefs.Unavailable,
			wantMsg:   "lost the connection to bangerd: ",
		},
		{
			name: "garbage line",
			lines: func(t *testing.T) []string {
				return []string{eventLine(t, steps[0]), "<html>oops</html>", eventLine(t, steps[1])}
			},
			wantSteps: steps[:1],
			wantKind:  errdefs.Internal,
			wantMsg:   "bad progress line from bangerd: ",
		},
		{
			name: "result without a VM",
			lines: func(t *testing.T) []string {
				return []string{eventLine(t, api.Event{Type: api.EventResult, OpID: "op-7"})}
			},
			wantKind: errdefs.Internal,
			wantMsg:  "bangerd returned no VM",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var (
				mu     sync.Mutex
				gotReq api.CreateVMRequest
				accept string
			)
			lines := tt.lines(t)
			c := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method != http.MethodPost || r.URL.Path != "/v1/vms" {
					http.Error(w, "wrong route "+r.Method+" "+r.URL.Path, http.StatusNotFound)
					return
				}
				mu.Lock()
				accept = r.Header.Get("Accept")
				err := json.NewDecoder(r.Body).Decode(&gotReq)
				mu.Unlock()
				if err != nil {
					http.Error(w, err.Error(), http.StatusBadRequest)
					return
				}
				streamLines(w, lines...)
				if tt.hangUp {
					hangUp(t, w)
				}
			}))

			var got []api.Event
			req := api.CreateVMRequest{Name: "brave-otter", Image: "debian", VCPUs: 2, Start: true}
			vm, err := c.CreateVM(context.Background(), req, func(ev api.Event) { got = append(got, ev) })

			mu.Lock()
			if diff := cmp.Diff(req, gotReq); diff != "" {
				t.Errorf("request body (-want +got):\n%s", diff)
			}
			if accept != api.NDJSON {
				t.Errorf("Accept = %q, want %q", accept, api.NDJSON)
			}
			mu.Unlock()
			if diff := cmp.Diff(tt.wantSteps, got); diff != "" {
				t.Errorf("progress events (-want +got):\n%s", diff)
			}
			if tt.wantVM != nil {
				if err != nil {
					t.Fatalf("CreateVM: %v", err)
				}
				if diff := cmp.Diff(*tt.wantVM, vm); diff != "" {
					t.Errorf("VM (-want +got):\n%s", diff)
				}
				return
			}
			if err == nil {
				t.Fatalf("CreateVM returned %+v, want an error", vm)
			}
			if got := errdefs.KindOf(err); got != tt.wantKind {
				t.Errorf("KindOf(%v) = %q, want %q", err, got, tt.wantKind)
			}
			if !strings.HasPrefix(err.Error(), tt.wantMsg) {
				t.Errorf("Error() = %q, want prefix %q", err, tt.wantMsg)
			}
			var op *OpError
			if gotOp := errors.As(err, &op); gotOp != (tt.wantOpID != "") || (gotOp && op.OpID != tt.wantOpID) {
				t.Errorf("OpError = %+v, want op id %q", op, tt.wantOpID)
			}
		})
	}
}

func TestDeleteVMStream(t *testing.T) {
	tests := []struct {
		name     string
		last     api.Event
		wantKind errdefs.Kind
	}{
		{"result without a VM is success", api.Event{Type: api.EventResult, OpID: "op-1"}, ""},
		{"error", api.Event{Type: api.EventError, Error: &api.Error{Code: "failed_precondition", Message: "busy"}}, errdefs.FailedPrecondition},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method != http.MethodDelete || r.URL.Path != "/v1/vms/brave-otter" {
					http.Error(w, "wrong route", http.StatusNotFound)
					return
				}
				streamLines(w, eventLine(t, step(1, "stop")), eventLine(t, tt.last))
			}))
			n := 0
			err := c.DeleteVM(context.Background(), "brave-otter", func(api.Event) { n++ })
			if got := errdefs.KindOf(err); got != tt.wantKind {
				t.Errorf("KindOf(%v) = %q, want %q", err, got, tt.wantKind)
			}
			if n != 1 {
				t.Errorf("progress called %d times, want 1", n)
			}
		})
	}
}

func TestStreamWithoutProgress(t *testing.T) {
	vm := api.VM{ID: "00000000000000ab", Name: "x", State: api.StateStopped}
	c := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		streamLines(w, eventLine(t, step(1, "stop")), eventLine(t, api.Event{Type: api.EventResult, VM: &vm}))
	}))
	got, err := c.KillVM(context.Background(), "x", nil)
	if err != nil {
		t.Fatalf("KillVM: %v", err)
	}
	if diff := cmp.Diff(vm, got); diff != "" {
		t.Errorf("VM (-want +got):\n%s", diff)
	}
}
