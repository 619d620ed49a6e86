package privileged

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"banger/internal/errdefs"
	"banger/internal/peercred/peercredtest"
	"banger/internal/testtier"
)

// Environment of the re-executed TestHelperCall process.
const (
	callSocketEnv = "BANGER_PRIVILEGED_TEST_SOCKET"
	callOwnerEnv  = "BANGER_PRIVILEGED_TEST_OWNER" // "self" or "root": whom the tap is for
)

// TestHelperCall is not a test: TestPeerCheck re-executes the test binary
// as another uid to run it. It asks the helper at $BANGER_PRIVILEGED_TEST_SOCKET
// for a tap and prints the kind of error it got.
func TestHelperCall(t *testing.T) {
	sock := os.Getenv(callSocketEnv)
	if sock == "" {
		t.Skip("helper process for TestPeerCheck; runs only when re-executed with " + callSocketEnv)
	}
	uid, gid := os.Getuid(), os.Getgid()
	if os.Getenv(callOwnerEnv) == "root" {
		uid, gid = 0, 0
	}
	err := Client{Socket: sock}.CreateTap("bt-00000000beef", uid, gid)
	fmt.Printf("RESULT uid=%d kind=%q\n", os.Getuid(), errdefs.KindOf(err))
}

// TestPeerCheck: SO_PEERCRED decides who is answered and whom a tap may
// be for; refused callers never reach the host and are logged.
func TestPeerCheck(t *testing.T) {
	testtier.Root(t) // runs callers as other uids
	const owner, stranger = 4711, 65534
	host := newFakeHost()
	hp := startHelper(t, Policy{UID: owner, Bridge: "banger0"}, host, 5*time.Second)
	// Open the way to the socket: t.TempDir and its parent are 0700.
	run := filepath.Dir(hp.socket)
	for _, p := range []string{filepath.Dir(run), filepath.Dir(filepath.Dir(run))} {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bin := peercredtest.Binary(t, filepath.Dir(run))

	tests := []struct {
		name    string
		uid     int
		tapFor  string
		kind    errdefs.Kind
		calls   []string
		refusal string // the log message of the refusal, if refused
	}{
		{"another uid is refused", stranger, "self", errdefs.FailedPrecondition, nil, "refused connection from another user"},
		{"the owner may not make root's taps", owner, "root", errdefs.FailedPrecondition, nil, "refused request"},
		{"the owner makes its own tap", owner, "self", "", []string{"CreateTap bt-00000000beef 4711:4711"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(host.Calls())
			got := peercredtest.RunAs(t, bin, filepath.Dir(run), "TestHelperCall", tt.uid,
				callSocketEnv+"="+hp.socket, callOwnerEnv+"="+tt.tapFor)
			if want := fmt.Sprintf("uid=%d kind=%q", tt.uid, tt.kind); got != want {
				t.Errorf("caller: %s, want %s", got, want)
			}
			if diff := cmp.Diff(tt.calls, host.Calls()[before:], cmpEmpty); diff != "" {
				t.Errorf("calls that reached the host (-want +got):\n%s", diff)
			}
			if tt.refusal != "" && len(hp.logs.find(t, tt.refusal, tt.uid)) == 0 {
				t.Errorf("no %q log record with uid %d", tt.refusal, tt.uid)
			}
		})
	}
}
