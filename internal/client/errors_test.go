package client

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"banger/internal/errdefs"
)

func TestErrorReplies(t *testing.T) {
	tests := []struct {
		name     string
		handler  http.HandlerFunc
		wantKind errdefs.Kind
		wantMsg  string
		wantOpID string
	}{
		{
			name: "not_found",
			handler: func(w http.ResponseWriter, r *http.Request) {
				writeError(w, http.StatusNotFound, "not_found", `no VM named "x"; "banger vm list" shows the VMs`, "op-1")
			},
			wantKind: errdefs.NotFound, wantMsg: `no VM named "x"; "banger vm list" shows the VMs`, wantOpID: "op-1",
		},
		{
			name: "already_exists",
			handler: func(w http.ResponseWriter, r *http.Request) {
				writeError(w, http.StatusConflict, "already_exists", "taken", "op-2")
			},
			wantKind: errdefs.AlreadyExists, wantMsg: "taken", wantOpID: "op-2",
		},
		{
			name: "invalid_argument",
			handler: func(w http.ResponseWriter, r *http.Request) {
				writeError(w, http.StatusBadRequest, "invalid_argument", "vcpus: must be 1-32\nmemory_mib: must be >= 128", "op-3")
			},
			wantKind: errdefs.InvalidArgument, wantMsg: "vcpus: must be 1-32\nmemory_mib: must be >= 128", wantOpID: "op-3",
		},
		{
			name: "failed_precondition",
			handler: func(w http.ResponseWriter, r *http.Request) {
				writeError(w, http.StatusPreconditionFailed, "failed_precondition", "busy", "op-4")
			},
			wantKind: errdefs.FailedPrecondition, wantMsg: "busy", wantOpID: "op-4",
		},
		{
			name: "unavailable",
			handler: func(w http.ResponseWriter, r *http.Request) {
				writeError(w, http.StatusServiceUnavailable, "unavailable", "no kvm", "op-5")
			},
			wantKind: errdefs.Unavailable, wantMsg: "no kvm", wantOpID: "op-5",
		},
		{
			name: "internal",
			handler: func(w http.ResponseWriter, r *http.Request) {
				writeError(w, http.StatusInternalServerError, "internal", "bug", "op-6")
			},
			wantKind: errdefs.Internal, wantMsg: "bug", wantOpID: "op-6",
		},
		{
			name: "the body's code wins over the status",
			handler: func(w http.ResponseWriter, r *http.Request) {
				writeError(w, http.StatusInternalServerError, "not_found", "gone", "op-7")
			},
			wantKind: errdefs.NotFound, wantMsg: "gone", wantOpID: "op-7",
		},
		{
			name: "unknown code is internal",
			handler: func(w http.ResponseWriter, r *http.Request) {
				writeError(w, http.StatusTeapot, "teapot", "short and stout", "op-8")
			},
			wantKind: errdefs.Internal, wantMsg: "short and stout", wantOpID: "op-8",
		},
		{
			name: "non-JSON 502 maps by status",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Banger-Op-Id", "op-9")
				http.Error(w, "upstream went away", http.StatusBadGateway)
			},
			wantKind: errdefs.Internal, wantMsg: "bangerd answered 502 Bad Gateway: upstream went away", wantOpID: "op-9",
		},
		{
			name: "non-JSON 404",
			handler: func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, "404 page not found", http.StatusNotFound)
			},
			wantKind: errdefs.NotFound, wantMsg: "bangerd answered 404 Not Found: 404 page not found",
		},
		{
			name: "non-JSON 409",
			handler: func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, "dup", http.StatusConflict)
			},
			wantKind: errdefs.AlreadyExists, wantMsg: "bangerd answered 409 Conflict: dup",
		},
		{
			name: "non-JSON 400",
			handler: func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, "bad", http.StatusBadRequest)
			},
			wantKind: errdefs.InvalidArgument, wantMsg: "bangerd answered 400 Bad Request: bad",
		},
		{
			name: "non-JSON 412",
			handler: func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, "busy", http.StatusPreconditionFailed)
			},
			wantKind: errdefs.FailedPrecondition, wantMsg: "bangerd answered 412 Precondition Failed: busy",
		},
		{
			name: "non-JSON 503",
			handler: func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, "later", http.StatusServiceUnavailable)
			},
			wantKind: errdefs.Unavailable, wantMsg: "bangerd answered 503 Service Unavailable: later",
		},
		{
			name: "JSON without a code maps by status",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusConflict)
				_, _ = w.Write([]byte(`{"error":{}}`))
			},
			wantKind: errdefs.AlreadyExists, wantMsg: `bangerd answered 409 Conflict: {"error":{}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newServer(t, tt.handler)
			ctx := context.Background()
			// A plain call and a streamed one classify the same way.
			errs := map[string]error{}
			_, errs["GetVM"] = c.GetVM(ctx, "x")
			_, errs["StartVM"] = c.StartVM(ctx, "x", nil)
			errs["RemoveImage"] = c.RemoveImage(ctx, "x")
			for call, err := range errs {
				if err == nil {
					t.Fatalf("%s: no error", call)
				}
				if got := errdefs.KindOf(err); got != tt.wantKind {
					t.Errorf("%s: KindOf = %q, want %q", call, got, tt.wantKind)
				}
				if got := err.Error(); got != tt.wantMsg {
					t.Errorf("%s: Error() = %q, want %q", call, got, tt.wantMsg)
				}
				var op *OpError
				if !errors.As(err, &op) {
					t.Fatalf("%s: %T is not an *OpError", call, err)
				}
				if op.OpID != tt.wantOpID {
					t.Errorf("%s: OpID = %q, want %q", call, op.OpID, tt.wantOpID)
				}
			}
		})
	}
}

func TestUnreachable(t *testing.T) {
	dir, err := os.MkdirTemp("", "bgc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })

	// A socket file nobody listens on any more, as a crashed daemon leaves.
	stale := filepath.Join(dir, "stale.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: stale, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()

	tests := []struct {
		name    string
		socket  string
		wantErr string
	}{
		{"missing socket", filepath.Join(dir, "missing.sock"), "no such file or directory"},
		{"stale socket", stale, "connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &Client{Socket: tt.socket}
			err := c.Ping(context.Background())
			if got, want := errdefs.KindOf(err), errdefs.Unavailable; got != want {
				t.Fatalf("KindOf(%v) = %q, want %q", err, got, want)
			}
			if want := "cannot reach bangerd at " + tt.socket + ": "; !strings.HasPrefix(err.Error(), want) {
				t.Errorf("Error() = %q, want prefix %q", err, want)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Error() = %q, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestLostConnection(t *testing.T) {
	c := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hangUp(t, w) }))
	ctx := context.Background()
	errs := map[string]error{}
	_, errs["GetVM"] = c.GetVM(ctx, "x")
	_, errs["StopVM"] = c.StopVM(ctx, "x", nil)
	for call, err := range errs {
		if got, want := errdefs.KindOf(err), errdefs.Unavailable; got != want {
			t.Errorf("%s: KindOf(%v) = %q, want %q", call, err, got, want)
			continue
		}
		if want := "lost the connection to bangerd before it answered"; !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%s: Error() = %q, want prefix %q", call, err, want)
		}
	}
}

func TestCancelledBeforeReply(t *testing.T) {
	block := make(chan struct{})
	c := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-block:
		}
	}))
	defer close(block)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.GetVM(ctx, "x"); !errors.Is(err, context.Canceled) {
		t.Errorf("GetVM with a cancelled context: err = %v, want context.Canceled", err)
	}
}
