package oci

import (
	"archive/tar"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"log"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// testRegistry is go-containerregistry's in-process registry on
// loopback, wrapped to count blob downloads, require basic auth once
// asked to, and corrupt chosen blobs.
type testRegistry struct {
	srv  *httptest.Server
	host string

	mu       sync.Mutex
	gets     map[string]int // blob digest → GET requests
	user     string         // required basic auth when set
	password string
	corrupt  map[string]bool // blob digests served with a flipped byte
	stall    map[string]bool // blob digests served half, then held until the client hangs up

	// gate, when set, holds the GETs of its blobs until as many are in
	// flight as it wants, and records the most ever in flight.
	gate *gate
}

// gate holds blob downloads until want of them (or all that are left)
// are in flight at once, so a client that downloads one at a time never
// gets past it, and records the most in flight.
type gate struct {
	mu       sync.Mutex
	cond     *sync.Cond
	want     int
	left     map[string]bool // blobs not served yet
	inflight int
	max      int
}

func newGate(want int, blobs ...string) *gate {
	g := &gate{want: want, left: map[string]bool{}}
	g.cond = sync.NewCond(&g.mu)
	for _, b := range blobs {
		g.left[b] = true
	}
	return g
}

func (g *gate) pass(blob string) (done func()) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.left[blob] {
		return func() {}
	}
	g.inflight++
	g.max = max(g.max, g.inflight)
	g.cond.Broadcast()
	for g.inflight < min(g.want, len(g.left)) {
		g.cond.Wait()
	}
	return func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		delete(g.left, blob)
		g.inflight--
		g.cond.Broadcast()
	}
}

func newTestRegistry(t *testing.T) *testRegistry {
	t.Helper()
	r := &testRegistry{gets: map[string]int{}, corrupt: map[string]bool{}, stall: map[string]bool{}}
	inner := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		user, pass := r.user, r.password
		r.mu.Unlock()
		if user != "" {
			if u, p, ok := req.BasicAuth(); !ok || u != user || p != pass {
				w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
				http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"log in"}]}`, http.StatusUnauthorized)
				return
			}
		}
		if i := strings.Index(req.URL.Path, "/blobs/sha256:"); i >= 0 && req.Method == http.MethodGet {
			d := req.URL.Path[i+len("/blobs/"):]
			r.mu.Lock()
			r.gets[d]++
			bad, stall, g := r.corrupt[d], r.stall[d], r.gate
			r.mu.Unlock()
			if g != nil {
				defer g.pass(d)()
			}
			if stall {
				rec := httptest.NewRecorder()
				inner.ServeHTTP(rec, req)
				body := rec.Body.Bytes()
				w.Header().Set("Content-Length", strconv.Itoa(len(body)))
				w.WriteHeader(rec.Code)
				w.Write(body[:len(body)/2])
				w.(http.Flusher).Flush()
				<-req.Context().Done()
				return
			}
			if bad {
				rec := httptest.NewRecorder()
				inner.ServeHTTP(rec, req)
				body := rec.Body.Bytes()
				if len(body) > 0 {
					body[len(body)/2] ^= 0xff
				}
				for k, v := range rec.Header() {
					w.Header()[k] = v
				}
				w.WriteHeader(rec.Code)
				w.Write(body)
				return
			}
		}
		inner.ServeHTTP(w, req)
	}))
	t.Cleanup(r.srv.Close)
	r.host = strings.TrimPrefix(r.srv.URL, "http://")
	return r
}

func (r *testRegistry) blobGets(digest string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.gets[digest]
}

func (r *testRegistry) requireAuth(user, password string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.user, r.password = user, password
}

// ref is a reference into the test registry.
func (r *testRegistry) ref(repoTag string) string { return r.host + "/" + repoTag }

// push writes img under repoTag.
func (r *testRegistry) push(t *testing.T, repoTag string, img v1.Image) {
	t.Helper()
	ref, err := name.ParseReference(r.ref(repoTag))
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatalf("push %s: %v", repoTag, err)
	}
}

func (r *testRegistry) pushIndex(t *testing.T, repoTag string, idx v1.ImageIndex) {
	t.Helper()
	ref, err := name.ParseReference(r.ref(repoTag))
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(ref, idx); err != nil {
		t.Fatalf("push %s: %v", repoTag, err)
	}
}

// testLayer is a gzip layer of es.
func testLayer(t *testing.T, es ...ent) v1.Layer {
	t.Helper()
	b := tarOf(t, es...)
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// randomLayer is a layer of one file of random bytes at p.
func randomLayer(t *testing.T, p string, size int) v1.Layer {
	t.Helper()
	body := make([]byte, size)
	for i := range body {
		body[i] = byte(rand.Uint32())
	}
	return testLayer(t, ent{name: p, typ: tar.TypeReg, mode: 0o644, body: string(body)})
}

// testImage is an image of layers for arch with a config naming it.
func testImage(t *testing.T, arch string, layers ...v1.Layer) v1.Image {
	t.Helper()
	img, err := mutate.AppendLayers(empty.Image, layers...)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", arch
	cf.Config.Env = []string{"PATH=/usr/bin:/bin", "ARCH=" + arch}
	cf.Config.WorkingDir = "/srv"
	cf.Config.User = "1000:1000"
	cf.Config.Entrypoint = []string{"/bin/entry"}
	cf.Config.Cmd = []string{"serve", "--port", "80"}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func digestString(t *testing.T, l v1.Layer) string {
	t.Helper()
	d, err := l.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

// dockerConfig points the default keychain at a fresh Docker config
// holding content (HOME too, so the user's own config is never read).
func dockerConfig(t *testing.T, content any) {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("HOME", dir)
	cfgDir := filepath.Join(dir, ".docker")
	os.MkdirAll(cfgDir, 0o700)
	t.Setenv("DOCKER_CONFIG", cfgDir)
	if content == nil {
		return
	}
	b, err := json.Marshal(content)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cfgDir, "config.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func basicAuth(user, password string) string {
	return base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
}
