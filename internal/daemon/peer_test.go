package daemon

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// dialEnv names the socket TestHelperDial talks to; it is set only in the
// re-executed helper process.
const dialEnv = "BANGER_TEST_DIAL_SOCKET"

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
	resp, err := c.Get("http://bangerd/v1/system/info")
	if err != nil {
		fmt.Printf("RESULT uid=%d refused: %v\n", os.Getuid(), err)
		return
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	fmt.Printf("RESULT uid=%d answered %d\n", os.Getuid(), resp.StatusCode)
}

// dialAs runs TestHelperDial from bin as uid and returns its RESULT line.
func dialAs(t *testing.T, bin, dir, sock string, uid int) string {
	t.Helper()
	cmd := exec.Command(bin, "-test.run=^TestHelperDial$", "-test.count=1", "-test.v")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), dialEnv+"="+sock)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid)}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper as uid %d: %v\n%s", uid, err, out)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if line, ok := strings.CutPrefix(sc.Text(), "RESULT "); ok {
			return line
		}
	}
	t.Fatalf("helper as uid %d printed no RESULT line:\n%s", uid, out)
	return ""
}

// copyExecutable copies the running test binary to dst, mode 0755, so that
// other uids can run it (go test's build directory is private).
func copyExecutable(t *testing.T, dst string) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	in, err := os.Open(self)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dst, 0o755); err != nil { // the umask is 077 here
		t.Fatal(err)
	}
}

func TestPeerCredentials(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: to run a helper process as other uids")
	}
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
		bin = filepath.Join(td.root, "daemon.test")
		copyExecutable(t, bin)
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
			got := dialAs(t, bin, td.root, sock, tt.uid)
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

	t.Run("root is served", func(t *testing.T) {
		resp, body := td.sub(t).do("GET", "/v1/system/info", "")
		if resp.StatusCode != http.StatusOK {
			t.Errorf("root: status %d: %s", resp.StatusCode, body)
		}
	})
}
