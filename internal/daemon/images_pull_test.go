package daemon

import (
	"archive/tar"
	"bytes"
	"context"
	"debug/elf"
	"encoding/binary"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
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
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"banger/internal/api"
	"banger/internal/errdefs"
	"banger/internal/store"
	"banger/internal/testtier"
)

// pushTestImage serves a one-layer linux/amd64 image from an in-process
// registry on loopback and returns its reference.
func pushTestImage(t *testing.T, files map[string]string) string {
	t.Helper()
	var hdrs []*tar.Header
	var bodies []string
	for n, body := range files {
		hdrs = append(hdrs, &tar.Header{Name: n, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body))})
		bodies = append(bodies, body)
	}
	return pushLayers(t, testLayerOf(t, hdrs, bodies))
}

// testLayerOf is a layer of the entries hdrs with bodies.
func testLayerOf(t *testing.T, hdrs []*tar.Header, bodies []string) v1.Layer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for i, h := range hdrs {
		tw.WriteHeader(h)
		io.WriteString(tw, bodies[i])
	}
	tw.Close()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf.Bytes())), nil })
	if err != nil {
		t.Fatal(err)
	}
	return layer
}

// pushLayers serves a linux/amd64 image of layers from an in-process
// registry on loopback and returns its reference.
func pushLayers(t *testing.T, layers ...v1.Layer) string {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	img, err := mutate.AppendLayers(empty.Image, layers...)
	if err != nil {
		t.Fatal(err)
	}
	cf, _ := img.ConfigFile()
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Config.Cmd = []string{"sh"}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	ref := strings.TrimPrefix(srv.URL, "http://") + "/tiny:1"
	r, _ := name.ParseReference(ref)
	if err := remote.Write(r, img); err != nil {
		t.Fatal(err)
	}
	return ref
}

// addDefaultKernel records a kernel named "default", which a pull needs,
// and points the daemon at an agent binary (a minimal static x86_64 ELF
// file: the image is never booted here).
func (td *testDaemon) addDefaultKernel(t *testing.T) {
	t.Helper()
	img := td.registerImage("kernel-holder")
	k := store.Kernel{ID: "00000000000000ab", Name: "default", Vmlinux: img.Kernel, Source: "imported",
		SHA256: strings.Repeat("0", 64), Size: 1}
	if err := td.d.store.CreateKernel(context.Background(), k); err != nil {
		t.Fatal(err)
	}
	agent := filepath.Join(t.TempDir(), "banger-agent")
	writeStaticELF(t, agent)
	t.Setenv(AgentBinEnv, agent)
}

// writeStaticELF writes the headers of a static x86_64 executable.
func writeStaticELF(t *testing.T, p string) {
	t.Helper()
	const ehsize, phsize = 64, 56
	b := make([]byte, ehsize+phsize)
	le := binary.LittleEndian
	copy(b, elf.ELFMAG)
	b[elf.EI_CLASS], b[elf.EI_DATA], b[elf.EI_VERSION] = byte(elf.ELFCLASS64), byte(elf.ELFDATA2LSB), byte(elf.EV_CURRENT)
	le.PutUint16(b[16:], uint16(elf.ET_EXEC))
	le.PutUint16(b[18:], uint16(elf.EM_X86_64))
	le.PutUint32(b[20:], uint32(elf.EV_CURRENT))
	le.PutUint64(b[32:], ehsize)
	le.PutUint16(b[52:], ehsize)
	le.PutUint16(b[54:], phsize)
	le.PutUint16(b[56:], 1)
	le.PutUint32(b[ehsize:], uint32(elf.PT_LOAD))
	if err := os.WriteFile(p, b, 0o755); err != nil {
		t.Fatal(err)
	}
}

// TestPullImageRoute: POST /v1/images/pull streams download progress and
// returns a ready image with a root disk made from the flattened tree,
// booting the default kernel; removing it deletes its files and its
// cached layers.
func TestPullImageRoute(t *testing.T) {
	testtier.Root(t) // the root disk is made as root (or in a user namespace)
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("DOCKER_CONFIG", filepath.Join(home, ".docker"))
	ref := pushTestImage(t, map[string]string{"etc/os-release": "ID=tiny\n"})
	td := startDaemon(t, daemonOpts{})
	td.addDefaultKernel(t)

	body, _ := json.Marshal(api.PullImageRequest{Ref: ref, Name: "tiny"})
	resp := td.open("POST", "/v1/images/pull", string(body), "Accept", api.NDJSON)
	evs := readEvents(t, resp.Body)
	resp.Body.Close()
	last := evs[len(evs)-1]
	if last.Type != api.EventResult || len(last.Result) == 0 {
		t.Fatalf("events = %+v, want a done event with the image", evs)
	}
	var steps []string
	for _, ev := range evs {
		if ev.Type == api.EventStep && ev.Kind == opImagePull && (len(steps) == 0 || steps[len(steps)-1] != ev.Step) {
			steps = append(steps, ev.Step)
		}
	}
	if strings.Join(steps, ",") != "download layers,flatten layers,make the root disk" {
		t.Errorf("steps = %v", steps)
	}
	var img api.Image
	if err := json.Unmarshal(last.Result, &img); err != nil {
		t.Fatal(err)
	}
	if img.Name != "tiny" || img.State != api.ImageReady || img.Source != ref || img.Kernel == "" ||
		img.Config == nil || strings.Join(img.Config.Cmd, " ") != "sh" || img.Config.Init != "agent" || len(img.Layers) != 1 {
		t.Errorf("pulled image = %+v", img)
	}
	tarBytes, err := os.ReadFile(filepath.Join(filepath.Dir(img.RootFS), "rootfs.tar"))
	if err != nil || !bytes.Contains(tarBytes, []byte("ID=tiny")) {
		t.Errorf("the flattened tree next to %s: %v", img.RootFS, err)
	}
	if out, err := exec.Command("debugfs", "-R", "cat /etc/os-release", img.RootFS).Output(); err != nil || string(out) != "ID=tiny\n" {
		t.Errorf("/etc/os-release in the root disk %s = %q, %v", img.RootFS, out, err)
	}

	blob := filepath.Join(td.layout.CacheDir, "oci", "blobs", "sha256", strings.TrimPrefix(img.Layers[0], "sha256:"))
	if _, err := os.Stat(blob); err != nil {
		t.Fatalf("the layer is not in the cache: %v", err)
	}
	if r, b := td.do("DELETE", "/v1/images/tiny", ""); r.StatusCode != http.StatusOK {
		t.Fatalf("DELETE = %d %s", r.StatusCode, b)
	}
	for _, p := range []string{filepath.Dir(img.RootFS), blob} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s is still there after image rm: %v", p, err)
		}
	}
}

// TestPullImageBadRef: a malformed reference is refused at once.
func TestPullImageBadRef(t *testing.T) {
	td := startDaemon(t, daemonOpts{})
	r, b := td.do("POST", "/v1/images/pull", `{"ref":"Not A Ref"}`)
	td.checkAPIError(r, b, errdefs.InvalidArgument)
}

// TestPullHostileImage: an image whose second layer writes through a
// symlink planted by the first is refused with an error naming that
// layer and the entry, and leaves no image record and nothing in the
// image store.
func TestPullHostileImage(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("DOCKER_CONFIG", filepath.Join(home, ".docker"))
	plant := testLayerOf(t, []*tar.Header{{Name: "up", Typeflag: tar.TypeSymlink, Linkname: "../../../../etc"}}, []string{""})
	write := testLayerOf(t, []*tar.Header{{Name: "up/cron.d/x", Typeflag: tar.TypeReg, Mode: 0o644, Size: 2}}, []string{"x\n"})
	ref := pushLayers(t, plant, write)
	td := startDaemon(t, daemonOpts{})
	td.addDefaultKernel(t)

	body, _ := json.Marshal(api.PullImageRequest{Ref: ref, Name: "evil"})
	resp := td.open("POST", "/v1/images/pull", string(body), "Accept", api.NDJSON)
	evs := readEvents(t, resp.Body)
	resp.Body.Close()
	last := evs[len(evs)-1]
	d, _ := write.Digest()
	if last.Type != api.EventError || last.Error.Code != string(errdefs.InvalidArgument) ||
		!strings.Contains(last.Error.Message, d.String()) || !strings.Contains(last.Error.Message, `"up/cron.d/x"`) {
		t.Fatalf("last event = %+v, want invalid_argument naming layer %s and entry up/cron.d/x", last, d)
	}
	if r, b := td.do("GET", "/v1/images", ""); r.StatusCode != http.StatusOK || strings.Contains(string(b), "evil") {
		t.Errorf("images after a refused pull: %d %s", r.StatusCode, b)
	}
	if ents, _ := os.ReadDir(filepath.Join(td.layout.StateDir, "images")); len(ents) != 0 {
		t.Errorf("left in the image store: %v", ents)
	}
	if ents, _ := os.ReadDir(filepath.Join(td.layout.CacheDir, "oci", "tmp")); len(ents) != 0 {
		t.Errorf("left in the cache's tmp: %v", ents)
	}
}
