package vmmproc

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"banger/internal/errdefs"
	"banger/internal/process"
	"banger/internal/vmm"
)

// selfProcess is a vmm.Process for the test binary: alive, with a real
// start time.
func selfProcess(t *testing.T, sock string) vmm.Process {
	t.Helper()
	st, _, err := process.StartTime(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	return vmm.Process{PID: os.Getpid(), StartTime: st, APISocket: sock}
}

func TestAsk(t *testing.T) {
	errRefused := errors.New("connection refused")
	live := selfProcess(t, "/run/x/api.sock")
	gone := live
	gone.StartTime++ // the pid now belongs to another process
	noSocket := live
	noSocket.APISocket = ""
	tests := []struct {
		name     string
		p        vmm.Process
		answer   error
		wantSent bool
		wantErr  string
		wantIs   error
		wantKind errdefs.Kind
	}{
		{name: "answered", p: live, wantSent: true},
		{name: "gone", p: gone, wantErr: "fakevmm pid", wantIs: vmm.ErrNotRunning},
		{name: "no socket", p: noSocket, wantKind: errdefs.InvalidArgument,
			wantErr: "fakevmm pid " + strconv.Itoa(live.PID) + " has no api socket recorded: stop it by killing the process"},
		{name: "failed", p: live, answer: errRefused, wantSent: true, wantIs: errRefused,
			wantErr: "ask fakevmm pid " + strconv.Itoa(live.PID) + " to shut down: connection refused"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sent := ""
			err := Ask(context.Background(), tc.p, "fakevmm", "api socket", "shut down", func(_ context.Context, sock string) error {
				sent = sock
				return tc.answer
			})
			if (sent != "") != tc.wantSent || tc.wantSent && sent != tc.p.APISocket {
				t.Errorf("request sent to %q, want sent %v to %s", sent, tc.wantSent, tc.p.APISocket)
			}
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Ask: %v", err)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), tc.wantErr) {
				t.Errorf("Ask = %v, want an error starting %q", err, tc.wantErr)
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Errorf("Ask = %v, want it to wrap %v", err, tc.wantIs)
			}
			if tc.wantKind != "" && errdefs.KindOf(err) != tc.wantKind {
				t.Errorf("Ask kind = %q, want %q", errdefs.KindOf(err), tc.wantKind)
			}
		})
	}
}

func TestAskProcessDiesDuringRequest(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	st, _, err := process.StartTime(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	p := vmm.Process{PID: cmd.Process.Pid, StartTime: st, APISocket: "/run/x/api.sock"}
	err = Ask(context.Background(), p, "fakevmm", "api socket", "shut down", func(context.Context, string) error {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return errors.New("connection reset")
	})
	if !errors.Is(err, vmm.ErrNotRunning) {
		t.Fatalf("Ask = %v, want ErrNotRunning: the VMM died while it was asked", err)
	}
}
