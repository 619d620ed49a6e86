// Package netnstest runs tests inside network namespaces they create, so
// that tests which make bridges, taps, firewall rules or DNS listeners never
// touch the host's own links, routes or rules. It is for tests only.
//
// A test calls Isolate first; the test then runs again in a child process
// with its own network and mount namespaces, where lo is up and /sys shows
// the namespace's own links. Extra namespaces (an "upstream" network, a
// fake guest) are made with New and entered with NS.Do.
package netnstest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"banger/internal/testtier"
)

// childEnv names the test a child process was started to run.
const childEnv = "BANGER_NETNS_TEST"

// Isolate re-runs the calling test or benchmark in a child process with new
// network and mount namespaces and reports its result. It returns true in
// the child, where the body must run, and false in the parent, which must
// return at once:
//
//	if !netnstest.Isolate(t) {
//		return
//	}
//
// A benchmark's metrics (ns/op included) are those the child measured. It
// skips when not running as root.
func Isolate(tb testing.TB) bool {
	tb.Helper()
	name := tb.Name()
	if child := os.Getenv(childEnv); child != "" && (name == child || strings.HasPrefix(name, child+"/")) {
		return true
	}
	testtier.Root(tb) // creates network namespaces
	args := []string{"-test.run=" + runPattern(name), "-test.count=1", "-test.v"}
	b, isBench := tb.(*testing.B)
	if isBench {
		args = []string{"-test.run=^$", "-test.bench=" + runPattern(name), "-test.count=1", "-test.benchmem"}
		if f := flagValue("test.benchtime"); f != "" {
			args = append(args, "-test.benchtime="+f)
		}
	}
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), childEnv+"="+name)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: syscall.CLONE_NEWNET | syscall.CLONE_NEWNS,
		Pdeathsig:  syscall.SIGKILL,
	}
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	text := out.String()
	switch {
	case err != nil:
		tb.Fatalf("in a network namespace: %v\n%s", err, text)
	case strings.Contains(text, "--- SKIP: "+name+" "):
		tb.Skipf("in a network namespace:\n%s", text)
	case isBench:
		if !reportChild(b, text) {
			tb.Fatalf("in a network namespace: no result for %s\n%s", name, text)
		}
		tb.Logf("in a network namespace:\n%s", text)
	case !strings.Contains(text, "--- PASS: "+name+" "):
		tb.Fatalf("in a network namespace: the test did not run (pattern %q)\n%s", runPattern(name), text)
	case testing.Verbose():
		tb.Logf("in a network namespace:\n%s", text)
	}
	return false
}

// reportChild re-reports the metrics of the child's result line for b.
func reportChild(b *testing.B, text string) bool {
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) < 4 || (f[0] != b.Name() && !strings.HasPrefix(f[0], b.Name()+"-")) {
			continue
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err == nil {
				b.ReportMetric(v, f[i+1])
			}
		}
		return true
	}
	return false
}

// flagValue is the value of a test flag as given to this process.
func flagValue(name string) string {
	if f := flag.Lookup(name); f != nil {
		return f.Value.String()
	}
	return ""
}

// runPattern is the -test.run pattern that selects exactly the test name.
func runPattern(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	return strings.Join(parts, "/")
}

// init prepares a child process started by Isolate before any test runs:
// mounts stop propagating to the host, /sys shows this namespace's links
// and lo is up.
func init() {
	if os.Getenv(childEnv) == "" {
		return
	}
	if err := prepareChild(); err != nil {
		fmt.Fprintf(os.Stderr, "netnstest: prepare the namespace: %v\n", err)
		os.Exit(2)
	}
}

func prepareChild() error {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make mounts private: %w", err)
	}
	if err := unix.Mount("sysfs", "/sys", "sysfs", 0, ""); err != nil {
		return fmt.Errorf("mount /sys: %w", err)
	}
	return LinkUp("lo")
}

// BindFile bind-mounts a file with data over path for the rest of the
// child's life, e.g. a resolv.conf naming the namespace's DNS server. Only
// call it in a child started by Isolate.
func BindFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if os.Getenv(childEnv) == "" {
		t.Fatal("netnstest.BindFile outside a namespace started by Isolate")
	}
	src := t.TempDir() + "/bind"
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount(src, path, "", unix.MS_BIND, ""); err != nil {
		t.Fatalf("bind %s: %v", path, err)
	}
	t.Cleanup(func() { _ = unix.Unmount(path, unix.MNT_DETACH) })
}

// LinkUp sets the named link up in the calling thread's namespace.
func LinkUp(name string) error {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return fmt.Errorf("find %s: %w", name, err)
	}
	return netlink.LinkSetUp(l)
}

// AddrAdd adds cidr (e.g. "192.0.2.1/24") to the named link and sets it up.
func AddrAdd(name, cidr string) error {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return fmt.Errorf("find %s: %w", name, err)
	}
	a, err := netlink.ParseAddr(cidr)
	if err != nil {
		return err
	}
	if err := netlink.AddrAdd(l, a); err != nil {
		return fmt.Errorf("add %s to %s: %w", cidr, name, err)
	}
	return netlink.LinkSetUp(l)
}

// NS is an extra network namespace owned by a test.
type NS struct {
	h netns.NsHandle
}

// New makes a new network namespace with lo up, closed when the test ends.
func New(t *testing.T) *NS {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	h, err := netns.New()
	if err != nil {
		t.Fatalf("new network namespace: %v", err)
	}
	lerr := LinkUp("lo")
	if err := netns.Set(orig); err != nil {
		// This thread is stuck in the new namespace; never unlock it so
		// the runtime ends it instead of reusing it.
		runtime.LockOSThread()
		t.Fatalf("return to the original namespace: %v", err)
	}
	if lerr != nil {
		t.Fatal(lerr)
	}
	ns := &NS{h: h}
	t.Cleanup(func() { _ = h.Close() })
	return ns
}

// FD is the namespace's file descriptor, e.g. for netlink.LinkSetNsFd.
func (ns *NS) FD() int { return int(ns.h) }

// Do runs fn on a thread inside the namespace. Sockets fn opens stay in the
// namespace after Do returns, so a listener made here keeps serving there.
func (ns *NS) Do(fn func() error) error {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer orig.Close()
	if err := netns.Set(ns.h); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("enter namespace: %w", err)
	}
	ferr := fn()
	if err := netns.Set(orig); err != nil {
		// Leave the thread locked: it dies with this goroutine.
		return fmt.Errorf("leave namespace: %w", err)
	}
	runtime.UnlockOSThread()
	return ferr
}

// Veth makes a veth pair: name in the calling namespace and peer in ns,
// both with no address and down.
func Veth(name, peer string, ns *NS) error {
	v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: name}, PeerName: peer}
	if err := netlink.LinkAdd(v); err != nil {
		return fmt.Errorf("add veth %s: %w", name, err)
	}
	p, err := netlink.LinkByName(peer)
	if err != nil {
		return err
	}
	if err := netlink.LinkSetNsFd(p, ns.FD()); err != nil {
		return fmt.Errorf("move %s: %w", peer, err)
	}
	return nil
}

// Open returns the named network namespace (as made by "ip netns add"),
// closed when the test ends.
func Open(tb testing.TB, name string) *NS {
	tb.Helper()
	h, err := netns.GetFromName(name)
	if err != nil {
		tb.Fatalf("open network namespace %s: %v", name, err)
	}
	tb.Cleanup(func() { _ = h.Close() })
	return &NS{h: h}
}

// Named makes a named network namespace ("ip netns add") with lo up, for
// tests that run whole programs in it with Command, and removes it when
// the test ends. resolvConf, when not empty, becomes the namespace's
// /etc/resolv.conf for those programs (ip netns exec bind-mounts
// /etc/netns/NAME/resolv.conf). It skips when not root or without ip(8).
func Named(tb testing.TB, resolvConf string) string {
	tb.Helper()
	testtier.Root(tb) // runs in a network namespace of its own
	if _, err := exec.LookPath("ip"); err != nil {
		tb.Skip("needs ip(8) (apt-get install iproute2) to make network namespaces")
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := "bgt-" + hex.EncodeToString(b[:])
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		tb.Fatalf("ip netns add %s: %v\n%s", name, err, out)
	}
	etc := filepath.Join("/etc/netns", name)
	tb.Cleanup(func() {
		_ = exec.Command("ip", "netns", "del", name).Run()
		_ = os.RemoveAll(etc)
	})
	if out, err := exec.Command("ip", "-n", name, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		tb.Fatalf("set lo up in %s: %v\n%s", name, err, out)
	}
	if resolvConf != "" {
		if err := os.MkdirAll(etc, 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(etc, "resolv.conf"), []byte(resolvConf), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	return name
}

// Command runs bin with args inside the named namespace through "ip netns
// exec", which replaces itself with bin: the process's pid is bin's.
func Command(ctx context.Context, ns, bin string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns, bin}, args...)...)
}
