package e2e

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"encoding/json"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"banger/internal/api"
	"banger/internal/imagebuild/imagetest"
	"banger/internal/kernelbuild/kerneltest"
	"banger/internal/netnstest"
	"banger/internal/testtier"
)

// ociEntry is one entry of a test layer; body is a regular file's.
type ociEntry struct {
	hdr  tar.Header
	body []byte
}

// ociLayer makes an uncompressed layer of entries.
func ociLayer(t *testing.T, entries []ociEntry) v1.Layer {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range entries {
		h := e.hdr
		h.Size = int64(len(e.body))
		h.ModTime = time.Unix(1700000000, 0)
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(e.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	data := b.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// busyboxImage is a two-layer image: static busybox with its applets,
// then a user "app" (uid 1000) with a private home holding a marker; its
// config sets Env, WorkingDir, User and an Entrypoint of /bin/sh -c.
func busyboxImage(t *testing.T) v1.Image {
	t.Helper()
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Skipf("needs a static /bin/busybox (apt-get install busybox-static): %v", err)
	}
	if f, err := elf.Open("/bin/busybox"); err != nil {
		t.Skipf("/bin/busybox: %v", err)
	} else {
		dynamic := false
		for _, p := range f.Progs {
			dynamic = dynamic || p.Type == elf.PT_INTERP
		}
		f.Close()
		if dynamic {
			t.Skip("needs a static /bin/busybox: apt-get install busybox-static")
		}
	}
	dir := func(n string, mode int64, uid int) ociEntry {
		return ociEntry{hdr: tar.Header{Name: n, Typeflag: tar.TypeDir, Mode: mode, Uid: uid, Gid: uid}}
	}
	file := func(n string, mode int64, uid int, body string) ociEntry {
		return ociEntry{hdr: tar.Header{Name: n, Typeflag: tar.TypeReg, Mode: mode, Uid: uid, Gid: uid}, body: []byte(body)}
	}
	base := []ociEntry{dir("bin", 0o755, 0), {hdr: tar.Header{Name: "bin/busybox", Typeflag: tar.TypeReg, Mode: 0o755}, body: bb},
		dir("etc", 0o755, 0), dir("tmp", 0o1777, 0), dir("root", 0o700, 0), dir("proc", 0o555, 0), dir("sys", 0o555, 0),
		dir("dev", 0o755, 0), dir("run", 0o755, 0)}
	for _, applet := range []string{"sh", "cat", "echo", "id", "pwd", "stat", "env", "ls", "mount", "readlink"} {
		base = append(base, ociEntry{hdr: tar.Header{Name: "bin/" + applet, Typeflag: tar.TypeSymlink, Linkname: "busybox", Mode: 0o777}})
	}
	app := []ociEntry{
		file("etc/passwd", 0o644, 0, "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n"),
		file("etc/group", 0o644, 0, "root:x:0:\napp:x:1000:\n"),
		dir("home", 0o755, 0), dir("home/app", 0o750, 1000),
		file("home/app/marker", 0o640, 1000, "from-layer-two\n"),
	}
	img, err := mutate.AppendLayers(empty.Image, ociLayer(t, base), ociLayer(t, app))
	if err != nil {
		t.Fatal(err)
	}
	return withConfig(t, img, "amd64", func(c *v1.Config) {
		c.Env = []string{"PATH=/bin", "GREETING=hello-from-oci"}
		c.WorkingDir = "/home/app"
		c.User = "app"
		c.Entrypoint = []string{"/bin/sh", "-c"}
		c.Cmd = []string{"echo idle"}
	})
}

// withConfig is img for linux/arch with its runtime config set by set.
func withConfig(t *testing.T, img v1.Image, arch string, set func(*v1.Config)) v1.Image {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", arch
	set(&cf.Config)
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	return img
}

// serveRegistry runs one in-process registry reachable on loopback both
// here (for pushing) and inside the world's network namespace (for the
// daemon), and returns the two host:port addresses. opts are the
// registry's beyond a silent logger.
func serveRegistry(t *testing.T, w *world, opts ...registry.Option) (host, inNS string) {
	t.Helper()
	h := registry.New(append([]registry.Option{registry.Logger(log.New(io.Discard, "", 0))}, opts...)...)
	hostLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var nsLn net.Listener
	if err := netnstest.Open(t, w.netns).Do(func() error {
		var err error
		nsLn, err = net.Listen("tcp", "127.0.0.1:0")
		return err
	}); err != nil {
		t.Fatalf("listen in the world's namespace: %v", err)
	}
	for _, ln := range []net.Listener{hostLn, nsLn} {
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		t.Cleanup(func() { srv.Close() })
	}
	return hostLn.Addr().String(), nsLn.Addr().String()
}

// TestGuestPulledImage pulls a two-layer busybox image from a registry
// with vm run --image REF (pulled on first use, with progress), boots it
// under qemu with the agent as PID 1, and runs a command that proves the
// image's files (the second layer's marker, owned by uid 1000), Env,
// WorkingDir, User and Entrypoint (the command is a single string that
// only /bin/sh -c runs) are right; vm exec on the same guest uses them
// too, and the image is recorded ready with how it boots.
func TestGuestPulledImage(t *testing.T) {
	testtier.Guest(t)
	kernel := kerneltest.Vmlinux(t)
	img := busyboxImage(t)
	w := newWorld(t)
	agent, err := imagetest.AgentBinary(w.path("files"))
	if err != nil {
		t.Fatal(err)
	}
	w.writeGuestConfig("vcpus = 1\nmemory = \"256M\"\ndisk_size = \"256M\"\n")
	w.startDaemon("BANGER_AGENT_BIN=" + agent)
	w.mustBanger("kernel", "import", kernel, "--name", "default")
	host, inNS := serveRegistry(t, w)
	push, err := name.ParseReference(host + "/busy:1")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(push, img); err != nil {
		t.Fatalf("push the test image: %v", err)
	}
	ref := inNS + "/busy:1"

	const script = `echo "$GREETING"; id -un; id -u; pwd; cat marker; stat -c '%u:%g %a' . marker; readlink /sbin/init`
	out, errs, code := w.guestBanger("", "vm", "run", "--name", "p", "--image", ref, "--", script)
	want := "hello-from-oci\napp\n1000\n/home/app\nfrom-layer-two\n1000:1000 750\n1000:1000 640\n/usr/local/bin/banger-agent\n"
	if code != 0 || out != want {
		t.Fatalf("vm run --image %s: exit %d\nstdout: %q\nwant:   %q\nstderr: %s\ndaemon log:\n%s", ref, code, out, want, errs, w.daemonLog())
	}
	if !strings.Contains(errs, "p ready in") {
		t.Errorf("vm run did not say the VM was ready: %s", errs)
	}
	var rec api.Image
	if err := json.Unmarshal([]byte(w.mustBanger("image", "show", "busy-1", "--json")), &rec); err != nil {
		t.Fatal(err)
	}
	if rec.State != api.ImageReady || rec.Source != ref || rec.Kernel == "" || rec.Config == nil ||
		rec.Config.Init != "agent" || rec.Config.User != "app" || len(rec.Layers) != 2 {
		t.Errorf("image show busy-1 = %+v", rec)
	}
	// vm exec runs as the image would too; a request's own --env wins.
	out = w.mustGuestBanger("vm", "exec", "p", "--env", "GREETING=override", "--", `echo "$GREETING $HOME"; id -un`)
	if out != "override /home/app\napp\n" {
		t.Errorf("vm exec on the pulled image = %q", out)
	}
	// A second vm run of the same reference pulls nothing new.
	_, errs, code = w.guestBanger("", "vm", "run", "--rm", "--name", "p2", "--image", ref, "--", "true")
	if code != 0 {
		t.Errorf("second vm run --image %s: exit %d\nstderr: %s", ref, code, errs)
	}
	if list := w.mustBanger("image", "list"); strings.Count(list, "busy-1") != 1 {
		t.Errorf("image list after two runs of one reference:\n%s", list)
	}
	w.mustGuestBanger("vm", "delete", "p")
	w.assertClean()
}
