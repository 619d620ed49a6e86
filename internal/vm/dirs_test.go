package vm

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"banger/internal/errdefs"
)

// TestPlantedDirsAreNotFollowed: a vms symlink planted in the state or
// runtime root (as someone who could once write there would leave it)
// makes create or start fail with what to remove, and nothing, least of
// all the VM's sockets, lands in the directory it points to.
func TestPlantedDirsAreNotFollowed(t *testing.T) {
	tests := []struct {
		name  string
		root  func(e *env) string // the root the link is planted in
		start bool                // whether start (not create) must refuse
	}{
		{"state root", func(e *env) string { return filepath.Join(e.root, "state") }, false},
		{"runtime root", func(e *env) string { return filepath.Join(e.root, "run") }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, envOpts{})
			elsewhere := filepath.Join(e.root, "attacker")
			if err := os.Mkdir(elsewhere, 0o777); err != nil {
				t.Fatal(err)
			}
			link := filepath.Join(tt.root(e), "vms")
			if err := os.RemoveAll(link); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(elsewhere, link); err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			_, err := e.svc.Create(ctx, "", CreateRequest{Name: "web"}, nil)
			if !tt.start {
				checkRefusal(t, "Create", err, link)
			} else {
				if err != nil {
					t.Fatalf("Create: %v", err)
				}
				_, err = e.svc.Start(ctx, "", "web", nil)
				checkRefusal(t, "Start", err, link)
				if rec := e.record("web"); State(rec.State) != StateStopped {
					t.Errorf("VM is %s after the refused start, want stopped", rec.State)
				}
			}
			des, err := os.ReadDir(elsewhere)
			if err != nil {
				t.Fatal(err)
			}
			for _, de := range des {
				t.Errorf("created %s through the planted link", filepath.Join(elsewhere, de.Name()))
			}
		})
	}
}

func checkRefusal(t *testing.T, op string, err error, link string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s succeeded through a planted symlink", op)
	}
	if !strings.Contains(err.Error(), link+" is a symlink, which banger refuses to follow: remove it") {
		t.Errorf("%s error %q does not name the planted link", op, err)
	}
	if got, want := errdefs.KindOf(err), errdefs.FailedPrecondition; got != want {
		t.Errorf("%s: kind %s, want %s", op, got, want)
	}
}
