package e2e

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"banger/internal/api"
	"banger/internal/imagebuild/imagetest"
	"banger/internal/kernelbuild/kerneltest"
	"banger/internal/testtier"
)

// fileLayer is an uncompressed layer read from a tar file on disk (plain
// tar layers are valid OCI layers; not compressing keeps hundreds of
// megabytes of test layers cheap to push and pull).
type fileLayer struct {
	path   string
	digest v1.Hash
	size   int64
}

func newFileLayer(t *testing.T, path string) *fileLayer {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		t.Fatal(err)
	}
	return &fileLayer{path: path, size: n, digest: v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(h.Sum(nil))}}
}

func (l *fileLayer) Digest() (v1.Hash, error)             { return l.digest, nil }
func (l *fileLayer) DiffID() (v1.Hash, error)             { return l.digest, nil }
func (l *fileLayer) Compressed() (io.ReadCloser, error)   { return os.Open(l.path) }
func (l *fileLayer) Uncompressed() (io.ReadCloser, error) { return os.Open(l.path) }
func (l *fileLayer) Size() (int64, error)                 { return l.size, nil }
func (l *fileLayer) MediaType() (types.MediaType, error)  { return types.OCIUncompressedLayer, nil }

// debianLayers cuts the cached Debian test image's root filesystem into
// two plain tar layers (usr/, then everything else) without banger's own
// additions (the agent, its units and udev drop-in, /etc/banger, the
// work disk's fstab line and the sshd drop-in; checked), so that the pull has to inject
// them as into any systemd image.
// The image is mounted read-only in a mount namespace of its own; the
// tars keep owners, modes, set-id bits and xattrs (file capabilities).
// It returns the layers and the image's /etc/passwd and /etc/group.
func debianLayers(t *testing.T, dir string) (usr, rest, passwd, group string) {
	t.Helper()
	rootfs := imagetest.RootFS(t)
	mnt := filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	usr, rest = filepath.Join(dir, "usr.tar"), filepath.Join(dir, "rest.tar")
	const script = `
mount -o ro,loop "$1" "$2"
cd "$2"
tar=(tar --create --format=pax --xattrs --xattrs-include='*' --numeric-owner
	--exclude=usr/local/bin/banger-agent --exclude='etc/systemd/system/banger-*'
	--exclude='etc/systemd/system/*/banger-*' --exclude=etc/systemd/system/systemd-udev-trigger.service.d
	--exclude=etc/banger --exclude=etc/ssh/sshd_config.d/banger.conf
	--exclude=etc/fstab)
"${tar[@]}" --file "$3" usr
"${tar[@]}" --file "$4" $(ls -A | grep -vx usr)
cat etc/passwd > "$5"
cat etc/group > "$6"
`
	passwdF, groupF := filepath.Join(dir, "passwd"), filepath.Join(dir, "group")
	cmd := exec.Command("unshare", "--mount", "--propagation", "private", "bash", "-ec", script, "bash", rootfs, mnt, usr, rest, passwdF, groupF)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cut the Debian image into layers: %v\n%s", err, out)
	}
	for _, layer := range []string{usr, rest} {
		if names := bangerEntries(t, layer); len(names) != 0 {
			t.Fatalf("layer %s still has banger's files: %v", filepath.Base(layer), names)
		}
	}
	p, err := os.ReadFile(passwdF)
	if err != nil {
		t.Fatal(err)
	}
	g, err := os.ReadFile(groupF)
	if err != nil {
		t.Fatal(err)
	}
	return usr, rest, string(p), string(g)
}

// bangerEntries lists the entries of the tar file at path whose names
// mention banger.
func bangerEntries(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("read %s: %v", path, err)
		}
		if strings.Contains(hdr.Name, "banger") {
			out = append(out, hdr.Name)
		}
	}
}

// debianImage is a multi-platform index whose linux/amd64 entry is the
// cached Debian test image (systemd included) in two layers plus a small
// top layer: a user "app" (uid 1000) with a private home holding a
// marker, and a plain fstab; its config sets Env, WorkingDir and User.
// The index lists a linux/arm64 image first, which the pull must skip.
func debianImage(t *testing.T, dir string) v1.ImageIndex {
	t.Helper()
	usr, rest, passwd, group := debianLayers(t, dir)
	dirE := func(n string, mode int64, uid int) ociEntry {
		return ociEntry{hdr: tar.Header{Name: n, Typeflag: tar.TypeDir, Mode: mode, Uid: uid, Gid: uid}}
	}
	file := func(n string, mode int64, uid int, body string) ociEntry {
		return ociEntry{hdr: tar.Header{Name: n, Typeflag: tar.TypeReg, Mode: mode, Uid: uid, Gid: uid}, body: []byte(body)}
	}
	top := ociLayer(t, []ociEntry{
		file("etc/passwd", 0o644, 0, passwd+"app:x:1000:1000::/home/app:/bin/bash\n"),
		file("etc/group", 0o644, 0, group+"app:x:1000:\n"),
		file("etc/fstab", 0o644, 0, "# UNCONFIGURED FSTAB FOR BASE SYSTEM\n"),
		dirE("home/app", 0o750, 1000),
		file("home/app/marker", 0o640, 1000, "from-the-top-layer\n"),
	})
	img, err := mutate.AppendLayers(empty.Image, newFileLayer(t, usr), newFileLayer(t, rest), top)
	if err != nil {
		t.Fatal(err)
	}
	img = withConfig(t, img, "amd64", func(c *v1.Config) {
		c.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "GREETING=hello-from-debian"}
		c.WorkingDir = "/home/app"
		c.User = "app"
		c.Cmd = []string{"bash"}
	})
	arm, err := mutate.AppendLayers(empty.Image, ociLayer(t, []ociEntry{file("wrong-platform", 0o644, 0, "arm64\n")}))
	if err != nil {
		t.Fatal(err)
	}
	arm = withConfig(t, arm, "arm64", func(*v1.Config) {})
	return mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}},
		mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
	)
}

// TestGuestPulledSystemdImage pulls a Debian image with systemd (the
// cached test image's tree without banger's additions, in three layers,
// behind a multi-platform index) from the in-process registry with vm
// run --image REF, boots it under qemu and runs a command proving that
// systemd is PID 1 and the injected agent runs as its unit (the command's
// cgroup is the unit's), that the work disk's fstab line was added, and
// that the image's files, Env, User and WorkingDir are right. One boot.
func TestGuestPulledSystemdImage(t *testing.T) {
	testtier.Guest(t)
	kernel := kerneltest.Vmlinux(t)
	w := newWorld(t)
	idx := debianImage(t, w.path("files"))
	agent, err := imagetest.AgentBinary(w.path("files"))
	if err != nil {
		t.Fatal(err)
	}
	w.writeGuestConfig("vcpus = 2\nmemory = \"512M\"\ndisk_size = \"256M\"\n")
	w.startDaemon("BANGER_AGENT_BIN=" + agent)
	w.mustBanger("kernel", "import", kernel, "--name", "default")
	blobs := w.path("files/registry")
	if err := os.Mkdir(blobs, 0o700); err != nil {
		t.Fatal(err)
	}
	host, inNS := serveRegistry(t, w, registry.WithBlobHandler(registry.NewDiskBlobHandler(blobs)))
	push, err := name.ParseReference(host + "/debian-systemd:12")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(push, idx); err != nil {
		t.Fatalf("push the test index: %v", err)
	}
	// The layers are pushed; only the registry's copies are needed now.
	for _, f := range []string{"usr.tar", "rest.tar"} {
		if err := os.Remove(w.path("files/" + f)); err != nil {
			t.Fatal(err)
		}
	}
	ref := inNS + "/debian-systemd:12"

	// vm create refuses a bad reference before creating anything.
	_, errs, code := w.banger("vm", "create", "--image", inNS+"/Debian:12")
	if code == 0 || !strings.Contains(errs, "is not an image reference") {
		t.Errorf("vm create --image with an upper-case repository: exit %d\nstderr: %s", code, errs)
	}

	const script = `cat /proc/1/comm; grep -o 'banger-agent.service' /proc/self/cgroup; grep -c '^LABEL=work ' /etc/fstab; ` +
		`echo "$GREETING"; id -un; id -u; pwd; cat marker; stat -c '%u:%g %a' . marker; test -e /wrong-platform || echo amd64`
	out, errs, code := w.guestBanger("", "vm", "run", "--name", "d", "--image", ref, "--", "bash", "-c", script)
	want := "systemd\nbanger-agent.service\n1\nhello-from-debian\napp\n1000\n/home/app\nfrom-the-top-layer\n1000:1000 750\n1000:1000 640\namd64\n"
	if code != 0 || out != want {
		t.Fatalf("vm run --image %s: exit %d\nstdout: %q\nwant:   %q\nstderr: %s\ndaemon log:\n%s", ref, code, out, want, errs, w.daemonLog())
	}
	var rec api.Image
	if err := json.Unmarshal([]byte(w.mustBanger("image", "show", "debian-systemd-12", "--json")), &rec); err != nil {
		t.Fatal(err)
	}
	if rec.State != api.ImageReady || rec.Source != ref || rec.Config == nil || rec.Config.Init != "systemd" ||
		rec.Config.User != "app" || rec.Config.WorkingDir != "/home/app" || len(rec.Layers) != 3 {
		t.Errorf("image show debian-systemd-12 = %+v", rec)
	}
	// vm create of the same reference takes the pulled image.
	w.mustBanger("vm", "create", "c", "--image", ref)
	if c := w.vm("c"); c.Image != "debian-systemd-12" {
		t.Errorf("vm create c --image %s made a VM of image %q, want debian-systemd-12", ref, c.Image)
	}
	if list := w.mustBanger("image", "list"); strings.Count(list, "debian-systemd-12") != 1 {
		t.Errorf("image list after vm run and vm create of one reference:\n%s", list)
	}
	w.mustGuestBanger("vm", "delete", "d", "c")
	w.assertClean()
}
