package privileged

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"banger/internal/errdefs"
	"banger/internal/peercred/peercredtest"
	"banger/internal/testtier"
)

// Environment of the re-executed TestHelperCall and TestHelperFlood
// processes.
const (
	callSocketEnv = "BANGER_PRIVILEGED_TEST_SOCKET"
	callOwnerEnv  = "BANGER_PRIVILEGED_TEST_OWNER" // "self" or "root": whom the tap is for
	callCowEnv    = "BANGER_PRIVILEGED_TEST_COW"   // "ready" or "mount": the state directory request
	callDirEnv    = "BANGER_PRIVILEGED_TEST_DIR"   // its state directory
	floodEnv      = "BANGER_PRIVILEGED_TEST_FLOOD" // how many connections to open
)

// TestHelperCall is not a test: TestPeerCheck re-executes the test binary
// as another uid to run it. It asks the helper at $BANGER_PRIVILEGED_TEST_SOCKET
// for a tap and prints the kind of error it got.
func TestHelperCall(t *testing.T) {
	sock := os.Getenv(callSocketEnv)
	if sock == "" || os.Getenv(callOwnerEnv) == "" {
		t.Skip("helper process for TestPeerCheck; runs only when re-executed with " + callOwnerEnv)
	}
	uid, gid := os.Getuid(), os.Getgid()
	if os.Getenv(callOwnerEnv) == "root" {
		uid, gid = 0, 0
	}
	err := Client{Socket: sock}.CreateTap("bt-00000000beef", uid, gid)
	fmt.Printf("RESULT uid=%d kind=%q\n", os.Getuid(), errdefs.KindOf(err))
}

// TestHelperCowCall is not a test: TestPeerCheckCow re-executes the test
// binary as another uid to run it. It sends CowReady or MountCow for
// $BANGER_PRIVILEGED_TEST_DIR and prints the kind of error it got.
func TestHelperCowCall(t *testing.T) {
	sock, which, dir := os.Getenv(callSocketEnv), os.Getenv(callCowEnv), os.Getenv(callDirEnv)
	if sock == "" || which == "" {
		t.Skip("helper process for TestPeerCheckCow; runs only when re-executed with " + callCowEnv)
	}
	c := Client{Socket: sock}
	var err error
	if which == "ready" {
		err = c.CowReady(dir)
	} else {
		err = c.MountCow(dir)
	}
	fmt.Printf("RESULT uid=%d kind=%q\n", os.Getuid(), errdefs.KindOf(err))
}

// TestPeerCheckCow: the state directory requests of a helper started with
// --cow-dir are answered for the served uid only. Another uid is refused
// by the socket's mode, and on a loosened socket by SO_PEERCRED, whether it
// names the served directory or its own; nothing reaches the host. The
// owner is answered, for the --cow-dir directory only.
func TestPeerCheckCow(t *testing.T) {
	testtier.Root(t)
	const owner, stranger = 4711, 65534
	const cowDir = "/home/u/.local/state/banger"
	host := newFakeHost()
	hp := startHelper(t, Policy{UID: owner, Bridge: "banger0", CowDir: cowDir}, host, 5*time.Second)
	run := filepath.Dir(hp.socket)
	openToOthers(t, run)
	bin, dir := peercredtest.Binary(t, filepath.Dir(run)), filepath.Dir(run)
	tests := []struct {
		name   string
		uid    int
		req    string // "ready" or "mount"
		dir    string
		opened bool
		kind   errdefs.Kind
		calls  []string
	}{
		{"another uid cannot ask", stranger, "ready", cowDir, false, errdefs.FailedPrecondition, nil},
		{"another uid cannot mount", stranger, "mount", cowDir, false, errdefs.FailedPrecondition, nil},
		{"another uid is refused on an opened socket", stranger, "mount", cowDir, true, errdefs.FailedPrecondition, nil},
		{"another uid cannot name its own directory", stranger, "mount", "/tmp/attacker", true, errdefs.FailedPrecondition, nil},
		{"the owner cannot name another directory", owner, "mount", "/etc", false, errdefs.FailedPrecondition, nil},
		{"the owner asks", owner, "ready", cowDir, false, "", []string{"CowReady " + cowDir + " 4711"}},
		{"the owner mounts", owner, "mount", cowDir, false, "", []string{"MountCow " + cowDir + " 4711"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mode := os.FileMode(0o600)
			if tt.opened {
				mode = 0o666
			}
			if err := os.Chmod(hp.socket, mode); err != nil {
				t.Fatal(err)
			}
			before := len(host.Calls())
			got := peercredtest.RunAs(t, bin, dir, "TestHelperCowCall", tt.uid,
				callSocketEnv+"="+hp.socket, callCowEnv+"="+tt.req, callDirEnv+"="+tt.dir)
			if want := fmt.Sprintf("uid=%d kind=%q", tt.uid, tt.kind); got != want {
				t.Errorf("caller: %s, want %s", got, want)
			}
			if diff := cmp.Diff(tt.calls, host.Calls()[before:], cmpEmpty); diff != "" {
				t.Errorf("calls that reached the host (-want +got):\n%s", diff)
			}
		})
	}
}

// peerSetup starts a helper for owner on host and makes its socket and
// the test binary reachable by other uids; it returns the helper, the
// copied binary and the directory to run it in.
func peerSetup(t *testing.T, owner int, host Served) (*helper, string, string) {
	t.Helper()
	hp := startHelper(t, Policy{UID: owner, Bridge: "banger0"}, host, 5*time.Second)
	run := filepath.Dir(hp.socket)
	openToOthers(t, run)
	return hp, peercredtest.Binary(t, filepath.Dir(run)), filepath.Dir(run)
}

// TestPeerCheck: only the served uid (and root) can open the socket at
// all; if its mode is loosened, SO_PEERCRED still decides who is answered
// and whom a tap may be for. Refused callers never reach the host, and
// refusals by SO_PEERCRED are logged.
func TestPeerCheck(t *testing.T) {
	testtier.Root(t)
	const owner, stranger = 4711, 65534
	host := newFakeHost()
	hp, bin, dir := peerSetup(t, owner, host)

	tests := []struct {
		name    string
		uid     int
		tapFor  string
		opened  bool // the socket's mode loosened to 0666
		kind    errdefs.Kind
		calls   []string
		refusal string // the log message of the refusal, if logged
	}{
		{"another uid cannot open the socket", stranger, "self", false, errdefs.FailedPrecondition, nil, ""},
		{"another uid is refused on an opened socket", stranger, "self", true, errdefs.FailedPrecondition, nil, "refused connection from another user"},
		{"the owner may not make root's taps", owner, "root", false, errdefs.FailedPrecondition, nil, "refused request"},
		{"the owner makes its own tap", owner, "self", false, "", []string{"CreateTap bt-00000000beef 4711:4711"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mode := os.FileMode(0o600)
			if tt.opened {
				mode = 0o666
			}
			if err := os.Chmod(hp.socket, mode); err != nil {
				t.Fatal(err)
			}
			before, logged := len(host.Calls()), len(hp.logs.find(t, "refused connection from another user", tt.uid))
			got := peercredtest.RunAs(t, bin, dir, "TestHelperCall", tt.uid,
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
			if tt.refusal == "" && len(hp.logs.find(t, "refused connection from another user", tt.uid)) != logged {
				t.Errorf("a refusal by the socket's mode was logged; the helper never saw it")
			}
		})
	}
}

// TestHelperFlood is not a test: TestFlood re-executes the test binary as
// another uid to run it. It opens $BANGER_PRIVILEGED_TEST_FLOOD
// connections to the helper, one after the other, reads what each is
// answered and prints how many were refused by the helper, refused by the
// socket's mode, or neither.
func TestHelperFlood(t *testing.T) {
	sock, n := os.Getenv(callSocketEnv), os.Getenv(floodEnv)
	if sock == "" || n == "" {
		t.Skip("helper process for TestFlood; runs only when re-executed with " + floodEnv)
	}
	count, err := strconv.Atoi(n)
	if err != nil {
		t.Fatal(err)
	}
	var refused, denied, other int
	for range count {
		c, err := net.Dial("unix", sock)
		if errors.Is(err, fs.ErrPermission) {
			denied++
			continue
		}
		if err != nil {
			other++
			continue
		}
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		b, _ := io.ReadAll(c)
		c.Close()
		if strings.Contains(string(b), `"code":"failed_precondition"`) && strings.Contains(string(b), "may not use banger's root helper") {
			refused++
		} else {
			other++
		}
	}
	fmt.Printf("RESULT refused=%d denied=%d other=%d\n", refused, denied, other)
}

// TestFlood: another uid opening 5,000 connections grows the helper's
// log by a handful of lines, not one per connection, and the helper
// keeps serving its owner meanwhile and after. With the socket as the
// helper makes it the flood never reaches the helper; with its mode
// loosened every connection is refused by SO_PEERCRED and the log gets
// one line for the uid and, when the helper stops, one with the count of
// the others.
func TestFlood(t *testing.T) {
	testtier.Root(t)
	const owner, stranger, flood = 4711, 65534, 5000
	for _, tt := range []struct {
		name   string
		opened bool
		want   string
	}{
		{"socket as made", false, fmt.Sprintf("refused=0 denied=%d other=0", flood)},
		{"socket opened to all", true, fmt.Sprintf("refused=%d denied=0 other=0", flood)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			host := newFakeHost()
			hp, bin, dir := peerSetup(t, owner, host)
			if tt.opened {
				if err := os.Chmod(hp.socket, 0o666); err != nil {
					t.Fatal(err)
				}
			}
			// The owner's calls, from this process (root is served as the
			// owner is), go on while the flood runs.
			stop, served := make(chan struct{}), make(chan error, 1)
			go func() {
				n := 0
				for {
					select {
					case <-stop:
						if n == 0 {
							served <- errors.New("no call was served during the flood")
						}
						served <- nil
						return
					default:
					}
					if err := (Client{Socket: hp.socket}).SetForwarding(n%2 == 0); err != nil {
						served <- fmt.Errorf("call %d during the flood: %w", n, err)
						return
					}
					n++
				}
			}()
			got := peercredtest.RunAs(t, bin, dir, "TestHelperFlood", stranger,
				callSocketEnv+"="+hp.socket, floodEnv+"="+strconv.Itoa(flood))
			close(stop)
			if err := <-served; err != nil {
				t.Error(err)
			}
			if got != tt.want {
				t.Errorf("flood: %s, want %s", got, tt.want)
			}
			// The owner itself, as its own uid, is served after the flood.
			if got := peercredtest.RunAs(t, bin, dir, "TestHelperCall", owner,
				callSocketEnv+"="+hp.socket, callOwnerEnv+"=self"); got != fmt.Sprintf("uid=%d kind=%q", owner, "") {
				t.Errorf("the owner after the flood: %s, want served", got)
			}
			hp.stop(t)
			// What the helper logs at its default level, info: the owner's
			// calls are logged at debug.
			var lines []string
			for _, l := range hp.logs.lines(t) {
				if !strings.Contains(l, `"level":"DEBUG"`) {
					lines = append(lines, l)
				}
			}
			if len(lines) >= 20 {
				t.Errorf("the log grew by %d lines for %d refused connections, want under 20:\n%s", len(lines), flood, strings.Join(lines, "\n"))
			}
			first := hp.logs.find(t, "refused connection from another user", stranger)
			more := hp.logs.find(t, "refused more connections from another user", stranger)
			total := len(first)
			for _, rec := range more {
				total += int(rec["count"].(float64))
			}
			if tt.opened && total != flood {
				t.Errorf("the log accounts for %d refused connections (%d lines, %d counts), want %d", total, len(first), len(more), flood)
			}
			if !tt.opened && total != 0 {
				t.Errorf("the log has %d refusals the socket's mode made: the helper never saw them", total)
			}
		})
	}
}
