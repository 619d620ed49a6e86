package oci

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"banger/internal/errdefs"
)

func newPuller(t *testing.T) *Puller {
	t.Helper()
	return &Puller{Dir: t.TempDir(), Jobs: 2}
}

// cacheFiles lists the layer cache's blobs and its download directory.
func cacheFiles(t *testing.T, p *Puller) (blobs, tmp []string) {
	t.Helper()
	for _, d := range []struct {
		dir string
		out *[]string
	}{{filepath.Join(p.Dir, "blobs", "sha256"), &blobs}, {filepath.Join(p.Dir, "tmp"), &tmp}} {
		ents, _ := os.ReadDir(d.dir)
		for _, e := range ents {
			*d.out = append(*d.out, e.Name())
		}
	}
	return blobs, tmp
}

func TestNormalize(t *testing.T) {
	for in, want := range map[string]string{
		"debian:12":                 "index.docker.io/library/debian:12",
		"debian":                    "index.docker.io/library/debian:latest",
		"docker.io/library/node:22": "index.docker.io/library/node:22",
		"owner/app:1":               "index.docker.io/owner/app:1",
		"ghcr.io/owner/app:v1":      "ghcr.io/owner/app:v1",
		"localhost:5000/x":          "localhost:5000/x:latest",
		"alpine@sha256:" + strings.Repeat("a", 64): "index.docker.io/library/alpine@sha256:" + strings.Repeat("a", 64),
	} {
		got, err := Normalize(in)
		if err != nil || got != want {
			t.Errorf("Normalize(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "UPPER/case", "a b", "x@sha256:short"} {
		if _, err := Normalize(bad); !errdefs.Is(err, errdefs.InvalidArgument) {
			t.Errorf("Normalize(%q) = %v, want invalid_argument", bad, err)
		}
	}
}

// TestFetchMultiPlatform: the linux/amd64 entry of an index is pulled,
// its config recorded, and its flattened tree holds its files only.
func TestFetchMultiPlatform(t *testing.T) {
	dockerConfig(t, nil)
	reg := newTestRegistry(t)
	arm := testImage(t, "arm64", testLayer(t, ent{name: "arch", typ: tar.TypeReg, body: "arm64"}))
	amd := testImage(t, "amd64", testLayer(t, ent{name: "arch", typ: tar.TypeReg, body: "amd64"}),
		testLayer(t, ent{name: "bin/", typ: tar.TypeDir, mode: 0o755}, ent{name: "bin/entry", typ: tar.TypeReg, mode: 0o755, body: "#!/bin/sh"}))
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}},
		mutate.IndexAddendum{Add: amd, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
	)
	reg.pushIndex(t, "multi:1", idx)
	p := newPuller(t)
	var events []Progress
	img, err := p.Fetch(context.Background(), reg.ref("multi:1"), func(pr Progress) { events = append(events, pr) })
	if err != nil {
		t.Fatal(err)
	}
	amdDigest, _ := amd.Digest()
	if img.Digest != amdDigest.String() || img.Ref != reg.ref("multi:1") || len(img.Layers) != 2 {
		t.Errorf("image = %+v, want the amd64 manifest %s with 2 layers", img, amdDigest)
	}
	want := Config{Env: []string{"PATH=/usr/bin:/bin", "ARCH=amd64"}, WorkingDir: "/srv", User: "1000:1000",
		Entrypoint: []string{"/bin/entry"}, Cmd: []string{"serve", "--port", "80"}}
	if diff := cmp.Diff(want, img.Config); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
	// Every layer ends with a report of all its bytes.
	last := map[string]Progress{}
	for _, e := range events {
		last[e.Layer] = e
	}
	for _, l := range img.Layers {
		if e := last[l.Digest]; e.Done != l.Size || e.Total != l.Size || e.Cached {
			t.Errorf("last progress of %s = %+v, want %d of %d bytes downloaded", l.Digest, e, l.Size, l.Size)
		}
	}
	dest := filepath.Join(t.TempDir(), "rootfs.tar")
	stale := filepath.Join(filepath.Dir(dest), ".rootfs.tar.123.tmp") // a crashed flattening's
	os.WriteFile(stale, []byte("half"), 0o600)
	if _, err := p.FlattenTo(context.Background(), img, dest); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(filepath.Dir(dest)); len(ents) != 1 {
		t.Errorf("next to the flattened image: %v, want only it", ents)
	}
	b, err := os.ReadFile(dest)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range readListing(t, b) {
		got = append(got, e.Name+"="+e.Body)
	}
	if diff := cmp.Diff([]string{"./=", "arch=amd64", "bin/=", "bin/entry=#!/bin/sh"}, got); diff != "" {
		t.Errorf("flattened (-want +got):\n%s", diff)
	}
	if _, tmp := cacheFiles(t, p); len(tmp) != 0 {
		t.Errorf("left in the cache's tmp: %v", tmp)
	}
}

// TestFetchWrongPlatform: an image only for arm64 is refused, saying so.
func TestFetchWrongPlatform(t *testing.T) {
	dockerConfig(t, nil)
	reg := newTestRegistry(t)
	reg.push(t, "arm:1", testImage(t, "arm64", randomLayer(t, "f", 100)))
	_, err := newPuller(t).Fetch(context.Background(), reg.ref("arm:1"), nil)
	if !errdefs.Is(err, errdefs.FailedPrecondition) || !strings.Contains(err.Error(), "linux/arm64") {
		t.Errorf("err = %v, want failed_precondition naming linux/arm64", err)
	}
}

// TestFetchSharedLayers: a second pull of an image that shares all but
// one layer with the first downloads only that layer.
func TestFetchSharedLayers(t *testing.T) {
	dockerConfig(t, nil)
	reg := newTestRegistry(t)
	l1, l2, l3 := randomLayer(t, "one", 50_000), randomLayer(t, "two", 70_000), randomLayer(t, "three", 30_000)
	reg.push(t, "app:1", testImage(t, "amd64", l1, l2))
	reg.push(t, "app:2", testImage(t, "amd64", l1, l2, l3))
	p := newPuller(t)
	first, err := p.Fetch(context.Background(), reg.ref("app:1"), nil)
	if err != nil {
		t.Fatal(err)
	}
	layerGets := func() int {
		return reg.blobGets(digestString(t, l1)) + reg.blobGets(digestString(t, l2)) + reg.blobGets(digestString(t, l3))
	}
	before := layerGets()
	var cached []string
	second, err := p.Fetch(context.Background(), reg.ref("app:2"), func(pr Progress) {
		if pr.Cached {
			cached = append(cached, pr.Layer)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	d3 := digestString(t, l3)
	if got := layerGets() - before; got != 1 || reg.blobGets(d3) != 1 {
		t.Errorf("second pull fetched %d blobs (%d of the new layer), want only the new layer once", got, reg.blobGets(d3))
	}
	if second.Fetched != second.Layers[2].Size || first.Fetched != first.Layers[0].Size+first.Layers[1].Size {
		t.Errorf("fetched %d then %d bytes", first.Fetched, second.Fetched)
	}
	t.Logf("first pull fetched %d layer bytes; the second, of an image sharing all but one layer, %d (the new layer is %d)",
		first.Fetched, second.Fetched, second.Layers[2].Size)
	if diff := cmp.Diff([]string{digestString(t, l1), digestString(t, l2)}, cached); diff != "" {
		t.Errorf("cached layers reported (-want +got):\n%s", diff)
	}
	// A third pull fetches no layer at all.
	before = layerGets()
	if _, err := p.Fetch(context.Background(), reg.ref("app:2"), nil); err != nil || layerGets() != before {
		t.Errorf("third pull: %v, %d layer downloads", err, layerGets()-before)
	}
}

// TestFetchWrongDigest: a blob whose bytes do not match its digest is
// refused and never lands in the cache; once the registry serves it
// right, a pull succeeds.
func TestFetchWrongDigest(t *testing.T) {
	dockerConfig(t, nil)
	reg := newTestRegistry(t)
	good, bad := randomLayer(t, "good", 10_000), randomLayer(t, "bad", 10_000)
	reg.push(t, "app:1", testImage(t, "amd64", good, bad))
	reg.corrupt[digestString(t, bad)] = true
	p := newPuller(t)
	_, err := p.Fetch(context.Background(), reg.ref("app:1"), nil)
	if err == nil || !strings.Contains(err.Error(), digestString(t, bad)) {
		t.Fatalf("err = %v, want an error naming %s", err, digestString(t, bad))
	}
	blobs, tmp := cacheFiles(t, p)
	for _, b := range blobs {
		if "sha256:"+b == digestString(t, bad) {
			t.Errorf("the corrupt blob is in the cache")
		}
	}
	if len(tmp) != 0 {
		t.Errorf("partial downloads left: %v", tmp)
	}
	reg.mu.Lock()
	reg.corrupt = map[string]bool{}
	reg.mu.Unlock()
	if _, err := p.Fetch(context.Background(), reg.ref("app:1"), nil); err != nil {
		t.Fatalf("pull after the registry was fixed: %v", err)
	}
}

// TestFlattenToCorruptCache: a cached blob altered on disk is refused at
// flattening, nothing is left at the destination, and the blob leaves the
// cache so the next pull downloads it again.
func TestFlattenToCorruptCache(t *testing.T) {
	dockerConfig(t, nil)
	reg := newTestRegistry(t)
	l := randomLayer(t, "f", 10_000)
	reg.push(t, "app:1", testImage(t, "amd64", l))
	p := newPuller(t)
	img, err := p.Fetch(context.Background(), reg.ref("app:1"), nil)
	if err != nil {
		t.Fatal(err)
	}
	blob := p.BlobPath(digestString(t, l))
	b, _ := os.ReadFile(blob)
	b[len(b)-10] ^= 0xff
	os.WriteFile(blob, b, 0o600)
	dest := filepath.Join(t.TempDir(), "rootfs.tar")
	if _, err := p.FlattenTo(context.Background(), img, dest); err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Fatalf("flattening a corrupt cached blob: %v, want an error saying it is corrupt", err)
	}
	if ents, _ := os.ReadDir(filepath.Dir(dest)); len(ents) != 0 {
		t.Errorf("left next to the destination: %v", ents)
	}
	if _, err := os.Stat(blob); !os.IsNotExist(err) {
		t.Errorf("the corrupt blob stayed in the cache: %v", err)
	}
	before := reg.blobGets(digestString(t, l))
	if _, err := p.Fetch(context.Background(), reg.ref("app:1"), nil); err != nil || reg.blobGets(digestString(t, l)) != before+1 {
		t.Errorf("pull after the corruption: %v, downloads %d → %d", err, before, reg.blobGets(digestString(t, l)))
	}
}

// TestFetchAuth: a registry that wants a login refuses an anonymous pull
// with an error saying how to log in, and serves a pull with the
// credentials of the Docker config.
func TestFetchAuth(t *testing.T) {
	reg := newTestRegistry(t)
	reg.push(t, "private:1", testImage(t, "amd64", randomLayer(t, "f", 1000)))
	reg.requireAuth("alice", "s3cret")

	dockerConfig(t, nil)
	_, err := newPuller(t).Fetch(context.Background(), reg.ref("private:1"), nil)
	if !errdefs.Is(err, errdefs.FailedPrecondition) || !strings.Contains(err.Error(), "docker login") {
		t.Errorf("anonymous pull: %v, want failed_precondition saying docker login", err)
	}
	dockerConfig(t, map[string]any{"auths": map[string]any{reg.host: map[string]string{"auth": basicAuth("alice", "wrong")}}})
	if _, err := newPuller(t).Fetch(context.Background(), reg.ref("private:1"), nil); !errdefs.Is(err, errdefs.FailedPrecondition) {
		t.Errorf("wrong password: %v, want failed_precondition", err)
	}
	dockerConfig(t, map[string]any{"auths": map[string]any{reg.host: map[string]string{"auth": basicAuth("alice", "s3cret")}}})
	if _, err := newPuller(t).Fetch(context.Background(), reg.ref("private:1"), nil); err != nil {
		t.Errorf("pull with the config's credentials: %v", err)
	}
}

// TestFetchCredentialHelper: credentials come from the credential helper
// the Docker config names for the registry.
func TestFetchCredentialHelper(t *testing.T) {
	reg := newTestRegistry(t)
	reg.push(t, "private:1", testImage(t, "amd64", randomLayer(t, "f", 1000)))
	reg.requireAuth("bob", "from-helper")
	bin := t.TempDir()
	log := filepath.Join(bin, "calls")
	script := "#!/bin/sh\n" +
		"echo \"$1 $(cat)\" >> " + log + "\n" +
		"[ \"$1\" = get ] || exit 1\n" +
		"echo '{\"ServerURL\":\"" + reg.host + "\",\"Username\":\"bob\",\"Secret\":\"from-helper\"}'\n"
	if err := os.WriteFile(filepath.Join(bin, "docker-credential-bangertest"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	dockerConfig(t, map[string]any{"credHelpers": map[string]string{reg.host: "bangertest"}})
	if _, err := newPuller(t).Fetch(context.Background(), reg.ref("private:1"), nil); err != nil {
		t.Fatalf("pull with the helper's credentials: %v", err)
	}
	calls, _ := os.ReadFile(log)
	if !strings.Contains(string(calls), "get "+reg.host) {
		t.Errorf("helper calls = %q, want a get for %s", calls, reg.host)
	}
}

// TestFetchNotFound: a missing tag is not_found.
func TestFetchNotFound(t *testing.T) {
	dockerConfig(t, nil)
	reg := newTestRegistry(t)
	if _, err := newPuller(t).Fetch(context.Background(), reg.ref("nope:1"), nil); !errdefs.Is(err, errdefs.NotFound) {
		t.Errorf("err = %v, want not_found", err)
	}
}

// TestRemoveUnused: blobs not kept and leftovers in tmp/ are deleted,
// kept blobs stay.
func TestRemoveUnused(t *testing.T) {
	p := newPuller(t)
	for _, d := range []string{digestOf([]byte("a")), digestOf([]byte("b"))} {
		os.MkdirAll(filepath.Dir(p.BlobPath(d)), 0o700)
		os.WriteFile(p.BlobPath(d), []byte("12345"), 0o600)
	}
	os.MkdirAll(filepath.Join(p.Dir, "tmp"), 0o700)
	os.WriteFile(filepath.Join(p.Dir, "tmp", "blob-123"), []byte("partial"), 0o600)
	n, size, err := p.RemoveUnused(map[string]bool{digestOf([]byte("a")): true})
	if err != nil || n != 1 || size != 5 {
		t.Fatalf("RemoveUnused = %d, %d, %v; want 1 blob of 5 bytes", n, size, err)
	}
	blobs, tmp := cacheFiles(t, p)
	if diff := cmp.Diff([]string{strings.TrimPrefix(digestOf([]byte("a")), "sha256:")}, blobs); diff != "" || len(tmp) != 0 {
		t.Errorf("cache after (-want +got):\n%s\ntmp: %v", diff, tmp)
	}
}

// TestFetchCancelled: a pull cancelled part-way through a download
// returns the cancellation and leaves neither the blob nor a partial
// download in the cache.
func TestFetchCancelled(t *testing.T) {
	dockerConfig(t, nil)
	reg := newTestRegistry(t)
	l := randomLayer(t, "big", 3<<20)
	reg.push(t, "app:1", testImage(t, "amd64", l))
	reg.stall[digestString(t, l)] = true
	p := newPuller(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, err := p.Fetch(ctx, reg.ref("app:1"), func(pr Progress) {
		if pr.Done > 0 {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if blobs, tmp := cacheFiles(t, p); len(blobs) != 0 || len(tmp) != 0 {
		t.Errorf("cache after a cancelled pull: blobs %v, tmp %v", blobs, tmp)
	}
}

// TestFetchConcurrent: layers download Jobs at a time. The registry
// holds each download until two are in flight, so a pull that downloads
// one at a time never finishes (the test times out); it also records the
// most downloads in flight, which must not pass Jobs.
func TestFetchConcurrent(t *testing.T) {
	dockerConfig(t, nil)
	reg := newTestRegistry(t)
	var layers []v1.Layer
	var digests []string
	for i := range 5 {
		l := randomLayer(t, fmt.Sprintf("f%d", i), 1000)
		layers = append(layers, l)
		digests = append(digests, digestString(t, l))
	}
	reg.push(t, "app:1", testImage(t, "amd64", layers...))
	reg.gate = newGate(2, digests...)
	p := newPuller(t) // Jobs: 2
	if _, err := p.Fetch(context.Background(), reg.ref("app:1"), nil); err != nil {
		t.Fatal(err)
	}
	if reg.gate.max != 2 {
		t.Errorf("at most %d downloads in flight, want 2", reg.gate.max)
	}
}
