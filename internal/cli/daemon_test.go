package cli

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"banger/internal/api"
	"banger/internal/peercred/peercredtest"
	"banger/internal/testtier"
)

func TestDaemonStatusOutput(t *testing.T) {
	in := api.SystemInfo{Version: "1.2.3", PID: 4242, StartedAt: now.Add(-(2*time.Hour + 3*time.Minute + 4*time.Second)),
		Socket: "/run/user/1000/banger/bangerd.sock", StateDir: "/home/u/.local/state/banger", VMs: 3, Running: 1}
	var buf bytes.Buffer
	printStatus(&buf, statusOf(in, now))
	golden(t, "daemon-status.txt", buf.Bytes())
	buf.Reset()
	if err := writeJSON(&buf, statusOf(in, now)); err != nil {
		t.Fatal(err)
	}
	golden(t, "daemon-status.json", buf.Bytes())
	buf.Reset()
	if err := writeJSON(&buf, daemonStatus{Socket: in.Socket}); err != nil {
		t.Fatal(err)
	}
	golden(t, "daemon-status-stopped.json", buf.Bytes())
}

// TestDaemonCommandsDoNotStartOne: with no daemon, status exits 3 and stop
// succeeds, and neither starts a daemon.
func TestDaemonCommandsDoNotStartOne(t *testing.T) {
	root := shortTemp(t)
	marker := filepath.Join(root, "started")
	vars := testVars(root, fakeDaemonScript(t, root, marker))
	for _, tt := range []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"daemon", "status"}, exitNotRunning, "bangerd is not running (no daemon answers on " + root + "/run/banger/bangerd.sock)\n"},
		{[]string{"daemon", "status", "--json"}, exitNotRunning, "{\n  \"running\": false,\n  \"socket\": \"" + root + "/run/banger/bangerd.sock\",\n  \"vms\": 0,\n  \"vms_running\": 0\n}\n"},
		{[]string{"daemon", "stop"}, 0, "bangerd is not running (no daemon answers on " + root + "/run/banger/bangerd.sock): nothing to stop\n"},
	} {
		var stdout, stderr bytes.Buffer
		code := Run(context.Background(), tt.args, Env{Stdout: &stdout, Stderr: &stderr, Getenv: func(k string) string { return vars[k] }})
		if code != tt.code || stdout.String() != tt.out {
			t.Errorf("banger %s: exit %d, stdout %q, stderr %q; want exit %d, stdout %q", strings.Join(tt.args, " "), code, stdout.String(), stderr.String(), tt.code, tt.out)
		}
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("a daemon command started bangerd")
	}
}

// shortTemp is a private temp directory with a path short enough for
// unix sockets.
func shortTemp(t *testing.T) string {
	t.Helper()
	root, err := os.MkdirTemp("", "bgcli")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	return root
}

// testVars is the environment of a banger whose XDG directories are below
// root and whose bangerd is bangerd.
func testVars(root, bangerd string) map[string]string {
	return map[string]string{
		"HOME":            root,
		"XDG_CONFIG_HOME": filepath.Join(root, "config"),
		"XDG_STATE_HOME":  filepath.Join(root, "state"),
		"XDG_CACHE_HOME":  filepath.Join(root, "cache"),
		"XDG_RUNTIME_DIR": filepath.Join(root, "run"),
		"BANGERD":         bangerd,
	}
}

// fakeDaemonScript writes a bangerd that only records that it ran.
func fakeDaemonScript(t *testing.T, dir, marker string) string {
	t.Helper()
	fake := filepath.Join(dir, "bangerd")
	script := "#!/bin/sh\ntouch " + marker + "\nexit 1\n"
	if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return fake
}

// listenEnv names the socket TestHelperListen listens on; it is set only
// in the re-executed helper process.
const listenEnv = "BANGER_TEST_LISTEN_SOCKET"

// TestHelperListen is not a test: TestRefusesPlantedRuntimeDir runs it as
// another uid, as the attacker. It makes the directory of the socket in
// $BANGER_TEST_LISTEN_SOCKET (open to all, as an attacker would, so the
// victim can connect), listens there, prints READY, and when its standard
// input closes prints how many connections it got and the bytes they sent.
func TestHelperListen(t *testing.T) {
	sock := os.Getenv(listenEnv)
	if sock == "" {
		t.Skip("helper process for TestRefusesPlantedRuntimeDir; runs only when re-executed with " + listenEnv)
	}
	dir := filepath.Dir(sock)
	if err := os.Mkdir(dir, 0o700); err != nil {
		fmt.Printf("RESULT mkdir: %v\n", err)
		return
	}
	ln, err := net.Listen("unix", sock)
	if err == nil {
		err = os.Chmod(sock, 0o777)
	}
	if err == nil {
		// Only the owner's bits: the directory looks private, but is not
		// the victim's.
		err = os.Chmod(dir, 0o711)
	}
	if err != nil {
		fmt.Printf("RESULT listen: %v\n", err)
		return
	}
	peercredtest.ServeAttacker(ln, 5*time.Second)
}

// victimEnv names the root of the layout TestHelperVictim uses; it is set
// only in the re-executed helper process.
const victimEnv = "BANGER_TEST_VICTIM_ROOT"

// TestHelperVictim is not a test: TestRefusesPlantedRuntimeDir runs it as
// a victim that is not root. It runs banger vm list with the layout below
// $BANGER_TEST_VICTIM_ROOT and prints its exit status and stderr.
func TestHelperVictim(t *testing.T) {
	root := os.Getenv(victimEnv)
	if root == "" {
		t.Skip("helper process for TestRefusesPlantedRuntimeDir; runs only when re-executed with " + victimEnv)
	}
	vars := testVars(root, filepath.Join(root, "bangerd"))
	var stdout, stderr bytes.Buffer
	code := Run(context.Background(), []string{"vm", "list"}, Env{Stdout: &stdout, Stderr: &stderr, Getenv: func(k string) string { return vars[k] }})
	fmt.Printf("RESULT code=%d stderr=%q\n", code, stderr.String())
}

// TestRefusesPlantedRuntimeDir: another user (uid 65534) creates the
// victim's runtime directory first and listens in it. The victim's banger
// (this root process, and uid 4711) refuses before sending a byte, names
// what is wrong and how to fix it, and starts no daemon over it.
func TestRefusesPlantedRuntimeDir(t *testing.T) {
	testtier.Root(t)
	const attacker = 65534
	root := shortTemp(t)
	// XDG_RUNTIME_DIR as open as /tmp, where the fallback runtime
	// directory /tmp/banger-runtime-<uid> lives.
	run := filepath.Join(root, "run")
	if err := os.Mkdir(run, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, p := range []struct {
		path string
		mode os.FileMode
	}{{root, 0o755}, {run, 0o1777}} {
		if err := os.Chmod(p.path, p.mode); err != nil {
			t.Fatal(err)
		}
	}
	// Where any victim can leave a trace of a started daemon.
	marker := filepath.Join(run, "started")
	vars := testVars(root, fakeDaemonScript(t, root, marker))
	runtimeDir := filepath.Join(run, "banger")
	bin := peercredtest.Binary(t, root)
	h := peercredtest.Start(t, bin, root, "TestHelperListen", attacker, listenEnv+"="+filepath.Join(runtimeDir, "bangerd.sock"))

	for _, args := range [][]string{{"vm", "list"}, {"daemon", "status"}, {"daemon", "stop"}} {
		var stdout, stderr bytes.Buffer
		code := Run(context.Background(), args, Env{Stdout: &stdout, Stderr: &stderr, Getenv: func(k string) string { return vars[k] }})
		want := fmt.Sprintf("banger: banger will not use the daemon socket in %s: runtime directory %s is owned by uid %d, not %d: remove it (rm -rf %s) and start banger again\n",
			runtimeDir, runtimeDir, attacker, os.Getuid(), runtimeDir)
		if code != 1 || stderr.String() != want {
			t.Errorf("banger %s: exit %d, stderr %q; want exit 1 and %q", strings.Join(args, " "), code, stderr.String(), want)
		}
	}
	// A victim that is not root (uid 4711) is refused the same way.
	const victim = 4711
	got := peercredtest.RunAs(t, bin, root, "TestHelperVictim", victim, victimEnv+"="+root)
	want := fmt.Sprintf("code=1 stderr=%q", fmt.Sprintf("banger: banger will not use the daemon socket in %s: runtime directory %s is owned by uid %d, not %d: remove it (sudo rm -rf %s) and start banger again\n",
		runtimeDir, runtimeDir, attacker, victim, runtimeDir))
	if got != want {
		t.Errorf("victim uid %d: %s\nwant %s", victim, got, want)
	}

	if got := h.Finish(t); got != "conns=0 bytes=0" {
		t.Errorf("the attacker's listener reports %s, want conns=0 bytes=0", got)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("banger started a daemon over another user's runtime directory")
	}
}
