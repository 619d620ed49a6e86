package provider

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"banger/internal/api"
	"banger/internal/client"
	"banger/internal/netnstest"
	"banger/internal/testtier"
	"banger/internal/vmm/firecracker/fctest"
)

// This file runs the real pieces for the end-to-end tests: etcd (Debian's
// etcd-server), a kube-apiserver and kube-scheduler built by
// hack/build-k8s.sh, and bangerd with the fake Firecracker. Everything
// listens on 127.0.0.1 or a unix socket in the test's directory; every
// process is started here and killed by pid when the test ends.

// process is a program a test started.
type process struct {
	cmd  *exec.Cmd
	done chan struct{}
	log  string
}

// stop kills the process (by its pid) and waits for it.
func (p *process) stop() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// proc starts name with its output in log and env (nil: the test's), and
// kills it at cleanup.
func proc(t testing.TB, log string, env []string, name string, args ...string) *process {
	t.Helper()
	p := startProc(t, log, env, name, args...)
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			p.dumpLog(t)
		}
	})
	return p
}

// dumpLog logs the tail of the process's log.
func (p *process) dumpLog(t testing.TB) {
	b, _ := os.ReadFile(p.log)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	t.Logf("%s log (tail):\n%s", filepath.Base(p.log), b)
}

// startProc starts name; the caller stops it.
func startProc(t testing.TB, log string, env []string, name string, args ...string) *process {
	t.Helper()
	f, err := os.Create(log)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); f.Close(); close(done) }()
	return &process{cmd: cmd, done: done, log: log}
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

var (
	k8sOnce sync.Once
	k8sDir  string
	k8sErr  error
)

// k8sBinaries builds (or finds cached) kube-apiserver and kube-scheduler.
func k8sBinaries(t testing.TB) string {
	t.Helper()
	k8sOnce.Do(func() {
		out, err := exec.Command("../hack/build-k8s.sh").Output()
		if err != nil {
			var stderr string
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = string(ee.Stderr)
			}
			k8sErr = fmt.Errorf("build kube-apiserver and kube-scheduler: %w\n%s", err, stderr)
			return
		}
		k8sDir = strings.TrimSpace(string(out))
	})
	if k8sErr != nil {
		t.Fatal(k8sErr)
	}
	return k8sDir
}

// cluster is an apiserver (with its etcd) and optionally the scheduler.
type cluster struct {
	cfg        *rest.Config
	kube       kubernetes.Interface
	kubeconfig string
	dir        string
}

const testToken = "banger-vk-test-token"

// needCluster skips unless the slow tier runs and etcd is installed.
func needCluster(t testing.TB) {
	t.Helper()
	testtier.Slow(t)
	if _, err := exec.LookPath("etcd"); err != nil {
		t.Skip("needs etcd for the Kubernetes tests: apt-get install etcd-server")
	}
	if _, err := exec.LookPath("mkfs.ext4"); err != nil {
		t.Skip("needs mkfs.ext4: apt-get install e2fsprogs")
	}
}

func startCluster(t testing.TB, scheduler bool) *cluster {
	t.Helper()
	bin := k8sBinaries(t)
	dir := t.TempDir()
	etcdPort, peerPort, apiPort := freePort(t), freePort(t), freePort(t)
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", etcdPort)
	proc(t, filepath.Join(dir, "etcd.log"), nil, "etcd", "--data-dir", filepath.Join(dir, "etcd"),
		"--listen-client-urls", etcdURL, "--advertise-client-urls", etcdURL,
		"--listen-peer-urls", fmt.Sprintf("http://127.0.0.1:%d", peerPort),
		"--initial-advertise-peer-urls", fmt.Sprintf("http://127.0.0.1:%d", peerPort),
		"--initial-cluster", fmt.Sprintf("default=http://127.0.0.1:%d", peerPort))

	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	saKey := filepath.Join(dir, "sa.pem")
	writeFile(t, saKey, string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})))
	tokens := filepath.Join(dir, "tokens.csv")
	writeFile(t, tokens, testToken+`,admin,admin,"system:masters"`+"\n")
	server := fmt.Sprintf("https://127.0.0.1:%d", apiPort)
	// No kube-controller-manager runs here: it is what would lift the
	// not-ready taint TaintNodesByCondition puts on a new node, so that
	// admission plugin is off.
	proc(t, filepath.Join(dir, "apiserver.log"), nil, filepath.Join(bin, "kube-apiserver"),
		"--etcd-servers", etcdURL, "--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1",
		"--secure-port", fmt.Sprint(apiPort), "--cert-dir", filepath.Join(dir, "certs"),
		"--service-cluster-ip-range", "10.0.0.0/24", "--authorization-mode", "AlwaysAllow",
		"--token-auth-file", tokens, "--service-account-issuer", server,
		"--service-account-key-file", saKey, "--service-account-signing-key-file", saKey,
		"--disable-admission-plugins", "ServiceAccount,TaintNodesByCondition")

	cfg := &rest.Config{Host: server, BearerToken: testToken, TLSClientConfig: rest.TLSClientConfig{Insecure: true}, QPS: 100, Burst: 200}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 2*time.Minute, "the apiserver is ready", func() error {
		_, err := kube.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(context.Background())
		return err
	})
	c := &cluster{cfg: cfg, kube: kube, dir: dir, kubeconfig: filepath.Join(dir, "kubeconfig")}
	writeFile(t, c.kubeconfig, fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: test, cluster: {server: %q, insecure-skip-tls-verify: true}}]
users: [{name: admin, user: {token: %q}}]
contexts: [{name: test, context: {cluster: test, user: admin}}]
current-context: test
`, server, testToken))
	if scheduler {
		schedCfg := filepath.Join(dir, "scheduler.yaml")
		// MostAllocated: Pods fill one node before the next.
		writeFile(t, schedCfg, fmt.Sprintf(`apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
clientConnection: {kubeconfig: %q}
leaderElection: {leaderElect: false}
profiles:
- schedulerName: default-scheduler
  pluginConfig:
  - name: NodeResourcesFit
    args:
      scoringStrategy:
        type: MostAllocated
        resources: [{name: cpu, weight: 1}, {name: memory, weight: 1}]
`, c.kubeconfig))
		proc(t, filepath.Join(dir, "scheduler.log"), nil, filepath.Join(bin, "kube-scheduler"),
			"--config", schedCfg, "--secure-port", "0")
	}
	return c
}

func writeFile(t testing.TB, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

// eventually retries f until it succeeds; after limit (a hang, not a
// measurement) the test fails with f's last error.
func eventually(t testing.TB, limit time.Duration, what string, f func() error) {
	t.Helper()
	var err error
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if err = f(); err == nil {
			return
		}
	}
	t.Fatalf("waiting until %s: %v", what, err)
}

var (
	bangerOnce sync.Once
	bangerdBin string
	bangerErr  error
)

// bangerd is one daemon with the fake Firecracker, networking off, in a
// directory of its own.
type bangerd struct {
	t      testing.TB
	root   string
	env    []string
	proc   *process
	netns  string // the daemon's network namespace; empty: the host's
	client *client.Client
	n      int
}

func buildBangerd(t testing.TB) string {
	t.Helper()
	bangerOnce.Do(func() {
		dir, err := os.MkdirTemp("", "banger-vk-bin-")
		if err != nil {
			bangerErr = err
			return
		}
		cmd := exec.Command("go", "build", "-o", dir+"/", "banger/cmd/bangerd")
		cmd.Dir = "../.."
		if out, err := cmd.CombinedOutput(); err != nil {
			bangerErr = fmt.Errorf("build bangerd: %w\n%s", err, out)
			return
		}
		bangerdBin = filepath.Join(dir, "bangerd")
	})
	if bangerErr != nil {
		t.Fatal(bangerErr)
	}
	return bangerdBin
}

// startBangerd runs a daemon with networking off.
func startBangerd(t testing.TB) *bangerd { return startBangerdNet(t, false) }

// startBangerdNet runs a daemon with the fake Firecracker; with network,
// in a network namespace of its own (root tier) with banger's bridge,
// addresses and firewall.
func startBangerdNet(t testing.TB, network bool) *bangerd {
	t.Helper()
	return startBangerdWith(t, network, nil)
}

// guestImage is a real kernel and image for the qemu driver.
type guestImage struct{ kernel, rootfs string }

// startBangerdWith runs a daemon; with guest, one that boots real guests
// with the qemu driver from guest's kernel and image (network on).
func startBangerdWith(t testing.TB, network bool, guest *guestImage) *bangerd {
	t.Helper()
	var netns string
	if network {
		netns = netnstest.Named(t, "nameserver 127.0.0.153\n")
	}
	buildBangerd(t)
	fc := fctest.Build(t)
	root, err := os.MkdirTemp("", "bvk")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	for _, d := range []string{"config/banger", "state", "cache", "run", "files"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	cfg := fmt.Sprintf("[vmm]\ndriver = \"firecracker\"\nfirecracker_bin = %q\nstop_timeout = \"5s\"\n\n[vm]\nvcpus = 1\nmemory = \"128M\"\ndisk_size = \"256M\"\n", fc)
	if guest != nil {
		cfg = "[vmm]\ndriver = \"qemu\"\nstop_timeout = \"30s\"\n\n[vm]\nvcpus = 2\nmemory = \"512M\"\ndisk_size = \"1G\"\n"
	}
	if !network {
		cfg += "\n[network]\nenabled = false\n"
	}
	writeFile(t, filepath.Join(root, "config/banger/config.toml"), cfg)
	d := &bangerd{t: t, root: root, netns: netns, client: &client.Client{Socket: filepath.Join(root, "run/banger/bangerd.sock")}}
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); !strings.HasPrefix(name, "XDG_") && !strings.HasPrefix(name, "BANGER") && !strings.HasPrefix(name, "FAKEFC_") {
			d.env = append(d.env, kv)
		}
	}
	d.env = append(d.env, "XDG_CONFIG_HOME="+root+"/config", "XDG_STATE_HOME="+root+"/state", "XDG_CACHE_HOME="+root+"/cache", "XDG_RUNTIME_DIR="+root+"/run")
	d.start()
	t.Cleanup(func() {
		// The VMMs outlive the daemon by design: delete every VM first.
		if d.proc == nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		vms, _ := d.client.ListVMs(ctx)
		for _, vm := range vms {
			_ = d.client.DeleteVM(ctx, vm.Name, nil)
		}
		d.proc.stop()
		if t.Failed() {
			d.proc.dumpLog(t)
		}
	})
	if guest != nil {
		if _, err := d.client.RegisterImage(context.Background(), api.RegisterImageRequest{Name: "default", RootFS: guest.rootfs, Kernel: guest.kernel}); err != nil {
			t.Fatal(err)
		}
		return d
	}
	rootfs, kernel := filepath.Join(root, "files/root.ext4"), filepath.Join(root, "files/vmlinux")
	if err := os.WriteFile(rootfs, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(rootfs, 16<<20); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", rootfs).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4: %v\n%s", err, out)
	}
	fctest.WriteKernel(t, kernel)
	if _, err := d.client.RegisterImage(context.Background(), api.RegisterImageRequest{Name: "default", RootFS: rootfs, Kernel: kernel}); err != nil {
		t.Fatal(err)
	}
	return d
}

func (d *bangerd) start() {
	d.t.Helper()
	d.n++
	bin := buildBangerd(d.t)
	log := filepath.Join(d.root, fmt.Sprintf("bangerd-%d.log", d.n))
	if d.netns != "" {
		d.proc = startProc(d.t, log, d.env, "ip", "netns", "exec", d.netns, bin)
	} else {
		d.proc = startProc(d.t, log, d.env, bin)
	}
	eventually(d.t, 30*time.Second, "bangerd answers", func() error { return d.client.Ping(context.Background()) })
}

// kill stops the daemon with SIGKILL; its VMs keep running.
func (d *bangerd) kill() {
	d.t.Helper()
	d.proc.stop()
	if d.t.Failed() {
		d.proc.dumpLog(d.t)
	}
	d.proc = nil
}
