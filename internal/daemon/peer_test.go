package daemon

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"banger/internal/peercred/peercredtest"
	"banger/internal/testtier"
)

// dialEnv names the socket TestHelperDial talks to; it is set only in the
// re-executed helper process. forkEnv, when set, makes it ask for a fork
// of the VM it names instead.
const (
	dialEnv = "BANGER_TEST_DIAL_SOCKET"
	forkEnv = "BANGER_TEST_DIAL_FORK"
)

// TestHelperDial is not a test: TestPeerCredentials re-executes the test
// binary as another uid to run it. It sends one request to the socket in
// $BANGER_TEST_DIAL_SOCKET and prints whether it got an answer.
func TestHelperDial(t *testing.T) {
	sock := os.Getenv(dialEnv)
	if sock == "" {
		t.Skip("helper process for TestPeerCredentials; runs only when re-executed with " + dialEnv)
	}
	c := unixClient(sock)
	c.Timeout = 10 * time.Second
	var (
		resp *http.Response
		err  error
	)
	if vm := os.Getenv(forkEnv); vm != "" {
		resp, err = c.Post("http://bangerd/v1/vms/"+vm+"/fork", "application/json", strings.NewReader(`{"count":2}`))
	} else {
		resp, err = c.Get("http://bangerd/v1/system/info")
	}
	if err != nil {
		fmt.Printf("RESULT uid=%d refused: %v\n", os.Getuid(), err)
		return
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	fmt.Printf("RESULT uid=%d answered %d\n", os.Getuid(), resp.StatusCode)
}

func TestPeerCredentials(t *testing.T) {
	testtier.Root(t) // runs a helper process as other uids
	const owner, stranger = 4711, 65534
	var bin string
	td := startDaemon(t, daemonOpts{uid: owner, beforeServe: func(td *testDaemon, ln net.Listener) {
		// Open the way to the socket so the kernel lets anyone connect;
		// only the daemon's peer check is left to refuse.
		for _, p := range []string{td.root, td.layout.RuntimeDir} {
			if err := os.Chmod(p, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Chmod(td.layout.Socket(), 0o666); err != nil {
			t.Fatal(err)
		}
		bin = peercredtest.Binary(t, td.root)
	}})
	sock := td.layout.Socket()

	tests := []struct {
		name string
		uid  int
		want string
	}{
		{"another uid is refused", stranger, fmt.Sprintf("uid=%d refused", stranger)},
		{"the owner is served", owner, fmt.Sprintf("uid=%d answered 200", owner)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			served := len(td.logs.find(t, map[string]any{"msg": "request", "path": "/v1/system/info"}))
			got := peercredtest.RunAs(t, bin, td.root, "TestHelperDial", tt.uid, dialEnv+"="+sock)
			if !strings.HasPrefix(got, tt.want) {
				t.Errorf("helper as uid %d: %q, want %q", tt.uid, got, tt.want)
			}
			servedNow := len(td.logs.find(t, map[string]any{"msg": "request", "path": "/v1/system/info"}))
			refusals := td.logs.find(t, map[string]any{"msg": "refused connection from another user",
				"uid": float64(tt.uid)})
			if tt.uid == stranger {
				if servedNow != served {
					t.Errorf("the daemon served a request from uid %d", tt.uid)
				}
				if len(refusals) == 0 {
					t.Errorf("the refusal of uid %d was not logged", tt.uid)
				}
			} else {
				if servedNow != served+1 {
					t.Errorf("served %d requests from the owner, want 1", servedNow-served)
				}
				if len(refusals) != 0 {
					t.Errorf("the owner's connection was logged as refused: %v", refusals)
				}
			}
		})
	}

	t.Run("another uid cannot fork", func(t *testing.T) {
		got := peercredtest.RunAs(t, bin, td.root, "TestHelperDial", stranger, dialEnv+"="+sock, forkEnv+"=web")
		if want := fmt.Sprintf("uid=%d refused", stranger); !strings.HasPrefix(got, want) {
			t.Errorf("fork as uid %d: %q, want %q", stranger, got, want)
		}
		if forks := td.logs.find(t, map[string]any{"msg": "request", "path": "/v1/vms/web/fork"}); len(forks) != 0 {
			t.Errorf("the daemon served a fork request from uid %d: %v", stranger, forks)
		}
	})

	t.Run("root is served", func(t *testing.T) {
		resp, body := td.sub(t).do("GET", "/v1/system/info", "")
		if resp.StatusCode != http.StatusOK {
			t.Errorf("root: status %d: %s", resp.StatusCode, body)
		}
	})
}
