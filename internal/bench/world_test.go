package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"banger/internal/api"
	"banger/internal/client"
	"banger/internal/disk"
	"banger/internal/imagebuild"
	"banger/internal/netnstest"
	"banger/internal/testtier"
	"banger/internal/vmm/firecracker/fctest"
)

// Sizes of the benchmark VMs and image.
const (
	imageName  = "bench"
	rootFSSize = 64 << 20  // the image's sparse ext4 root disk
	workDisk   = 256 << 20 // the smallest work disk the config allows
	vmMemory   = 128       // MiB
)

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

// TestMain removes the built bangerd after the run.
func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// benchDiskStrategy is the root disk strategy of the control-plane
// benchmarks' daemon: loop-xfs where mkfs.xfs is installed (O(1) clones on
// any state directory), else what auto picks. The daemon runs under ip
// netns exec, in a mount namespace of its own: its mount and loop device go
// away with it and the VMMs it started.
func benchDiskStrategy() string {
	if _, err := exec.LookPath("mkfs.xfs"); err == nil {
		return "loop-xfs"
	}
	return "auto"
}

// bangerd builds the daemon and the CLI once per test binary and returns
// the daemon's path.
func bangerd(tb testing.TB) string {
	tb.Helper()
	buildOnce.Do(func() {
		goBin, err := exec.LookPath("go")
		if err != nil {
			buildErr = fmt.Errorf("find the go command: %w: run the benchmarks with `go test`", err)
			return
		}
		buildDir, buildErr = os.MkdirTemp("", "banger-bench-bin-")
		if buildErr != nil {
			return
		}
		// The test build: BANGERD_TEST_CPU_PROFILE makes it write a CPU
		// profile (BenchmarkLifecycle prints its top).
		cmd := exec.Command(goBin, "build", "-tags", "bangertest", "-o", buildDir+string(filepath.Separator), "banger/cmd/bangerd", "banger/cmd/banger")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build -tags bangertest banger/cmd/bangerd banger/cmd/banger: %w\n%s", err, out)
		}
	})
	if buildErr != nil {
		tb.Fatalf("build bangerd: %v", buildErr)
	}
	return filepath.Join(buildDir, "bangerd")
}

// bangerCLI returns the path of the banger CLI built next to bangerd.
func bangerCLI(tb testing.TB) string {
	tb.Helper()
	bangerd(tb)
	return filepath.Join(buildDir, "banger")
}

// world is one private banger installation: XDG directories, a config
// pointing at the fake Firecracker, an image's files, and the daemon.
type world struct {
	tb     testing.TB
	root   string
	env    []string
	fc     string // the fake firecracker
	kernel string
	rootfs string
	client *client.Client

	daemon *exec.Cmd
	exited chan struct{} // closed when daemon has been reaped
	netns  string        // the network namespace the daemon, VMMs and CLI run in
}

// newWorld creates a world under a short temporary root, so that socket
// paths stay far below the 108-byte limit. Cleanup stops everything the
// world started and removes the root.
func newWorld(tb testing.TB) *world {
	tb.Helper()
	testtier.Root(tb) // a network namespace per world
	if _, err := exec.LookPath("mkfs.ext4"); err != nil {
		tb.Skip("needs mkfs.ext4 to make the image's root disk: install e2fsprogs")
	}
	bangerd(tb)
	root, err := os.MkdirTemp("", "bgb")
	if err != nil {
		tb.Fatalf("create world root: %v", err)
	}
	w := &world{tb: tb, root: root, fc: fctest.Build(tb), netns: netnstest.Named(tb, "nameserver 127.0.0.153\n")}
	tb.Cleanup(w.cleanup)
	for _, d := range []string{"config/banger", "state", "cache", "run", "files", "floor"} {
		if err := os.MkdirAll(w.path(d), 0o700); err != nil {
			tb.Fatalf("create %s: %v", d, err)
		}
	}
	cfg := fmt.Sprintf("[vmm]\ndriver = \"firecracker\"\nfirecracker_bin = %q\nstop_timeout = \"10s\"\n\n"+
		"[vm]\nvcpus = 1\nmemory = \"%dM\"\ndisk_size = \"%dM\"\nimage = %q\ndisk_strategy = %q\n",
		w.fc, vmMemory, workDisk>>20, imageName, benchDiskStrategy())
	if err := os.WriteFile(w.path("config/banger/config.toml"), []byte(cfg), 0o600); err != nil {
		tb.Fatalf("write config: %v", err)
	}
	w.env = append(os.Environ(),
		"XDG_CONFIG_HOME="+w.path("config"),
		"XDG_STATE_HOME="+w.path("state"),
		"XDG_CACHE_HOME="+w.path("cache"),
		"XDG_RUNTIME_DIR="+w.path("run"),
	)
	w.kernel = w.path("files/vmlinux")
	fctest.WriteKernel(tb, w.kernel)
	w.rootfs = w.path("files/rootfs.ext4")
	if err := makeSparse(w.rootfs, rootFSSize); err != nil {
		tb.Fatalf("create root disk: %v", err)
	}
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", w.rootfs).CombinedOutput(); err != nil {
		tb.Fatalf("mkfs.ext4 %s: %v\n%s", w.rootfs, err, out)
	}
	// Like the images banger builds, the image reads the identity disk,
	// unless BANGER_BENCH_IDENTITY=debugfs asks for the fallback that
	// writes each VM's identity into its root disk.
	if os.Getenv("BANGER_BENCH_IDENTITY") != "debugfs" {
		marker := []disk.File{{Path: imagebuild.IdentityMarker, Mode: 0o644}}
		if err := disk.WriteFiles(context.Background(), w.rootfs, marker); err != nil {
			tb.Fatalf("mark %s as reading the identity disk: %v", w.rootfs, err)
		}
	}
	w.client = &client.Client{Socket: w.path("run/banger/bangerd.sock")}
	return w
}

// path joins rel to the world root.
func (w *world) path(rel string) string { return filepath.Join(w.root, rel) }

// startDaemon runs bangerd in its own session with its log in the world
// root and waits until it answers on its socket.
func (w *world) startDaemon(ctx context.Context) {
	w.tb.Helper()
	logf, err := os.Create(w.path("bangerd.log"))
	if err != nil {
		w.tb.Fatalf("create daemon log: %v", err)
	}
	defer logf.Close()
	cmd := netnstest.Command(context.Background(), w.netns, bangerd(w.tb))
	cmd.Env = w.env
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		w.tb.Fatalf("start bangerd: %v", err)
	}
	w.daemon, w.exited = cmd, make(chan struct{})
	exited := w.exited
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	deadline := time.Now().Add(15 * time.Second)
	for {
		if err := w.client.Ping(ctx); err == nil {
			return
		}
		select {
		case <-exited:
			w.tb.Fatalf("bangerd exited at start:\n%s", w.daemonLog())
		case <-ctx.Done():
			w.tb.Fatalf("wait for bangerd: %v", ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			w.tb.Fatalf("bangerd did not answer within 15s:\n%s", w.daemonLog())
		}
	}
}

// daemonPID is the pid of the running daemon.
func (w *world) daemonPID() int { return w.daemon.Process.Pid }

// daemonCPU is the CPU time the daemon has used so far.
func (w *world) daemonCPU() time.Duration {
	w.tb.Helper()
	d, err := cpuTime(w.daemonPID())
	if err != nil {
		w.tb.Fatalf("read CPU time of bangerd: %v", err)
	}
	return d
}

// registerImage registers the world's root disk and kernel as the image
// every benchmark VM uses, and returns it as the daemon holds it.
func (w *world) registerImage(ctx context.Context) api.Image {
	w.tb.Helper()
	img, err := w.client.RegisterImage(ctx, api.RegisterImageRequest{Name: imageName, RootFS: w.rootfs, Kernel: w.kernel})
	if err != nil {
		w.tb.Fatalf("register image: %v", err)
	}
	return img
}

func (w *world) daemonLog() string {
	b, err := os.ReadFile(w.path("bangerd.log"))
	if err != nil {
		return "(no daemon log: " + err.Error() + ")"
	}
	return string(b)
}

// stopDaemon ends the daemon with SIGTERM (SIGKILL after 30s) and waits
// for it.
func (w *world) stopDaemon() {
	if w.daemon == nil {
		return
	}
	_ = w.daemon.Process.Signal(syscall.SIGTERM)
	select {
	case <-w.exited:
	case <-time.After(30 * time.Second):
		_ = w.daemon.Process.Kill()
		<-w.exited
	}
	w.daemon = nil
}

// cleanup stops the daemon, then kills every process whose command line
// names the world root (the fake VMMs the daemon started), then removes
// the root.
func (w *world) cleanup() {
	w.stopDaemon()
	for range 3 {
		pids := processesUnder(w.root)
		if len(pids) == 0 {
			break
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		waitGone(pids, 5*time.Second)
	}
	if left := processesUnder(w.root); len(left) > 0 {
		w.tb.Errorf("cleanup: processes of %s survived SIGKILL: %v", w.root, left)
	}
	if err := os.RemoveAll(w.root); err != nil {
		w.tb.Errorf("cleanup: %v", err)
	}
}
