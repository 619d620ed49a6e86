package qemu

import (
	"context"
	"path/filepath"
	"testing"

	"banger/internal/errdefs"
	"banger/internal/vmm"
)

func TestDialAgentErrors(t *testing.T) {
	tests := []struct {
		name string
		spec vmm.Spec
		want errdefs.Kind
	}{
		{"no agent channel", vmm.Spec{ID: "vm-1"}, errdefs.FailedPrecondition},
		{"nobody listening", vmm.Spec{ID: "vm-1", VsockPath: filepath.Join(t.TempDir(), "agent.sock")}, errdefs.Unavailable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := New(Config{}).DialAgent(context.Background(), tc.spec, vmm.AgentPort)
			if err == nil {
				conn.Close()
				t.Fatal("DialAgent succeeded")
			}
			if got := errdefs.KindOf(err); got != tc.want {
				t.Errorf("DialAgent error kind = %q, want %q (%v)", got, tc.want, err)
			}
		})
	}
}
