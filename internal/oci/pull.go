package oci

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"golang.org/x/sync/errgroup"

	"banger/internal/disk"
	"banger/internal/errdefs"
)

// Platform is the only platform banger's guests run.
var Platform = v1.Platform{OS: "linux", Architecture: "amd64"}

// Puller fetches images into a layer cache. Its zero value is not
// usable: Dir is required.
type Puller struct {
	// Dir is the layer cache: blobs/sha256/<hex> holds verified layer
	// blobs, tmp/ downloads in progress.
	Dir string
	// Keychain finds registry credentials; nil is authn.DefaultKeychain,
	// the Docker config ($DOCKER_CONFIG or ~/.docker/config.json, with its
	// credential helpers) of the user the process runs as.
	Keychain authn.Keychain
	// Transport is the HTTP transport (nil: go-containerregistry's
	// default). Plain HTTP is refused except to loopback, whatever it is.
	Transport http.RoundTripper
	// Jobs bounds concurrent layer downloads (DefaultJobs when zero).
	Jobs int
}

// DefaultJobs is how many layers a pull downloads at once.
const DefaultJobs = 3

// Progress reports a layer download: Layer is the layer's digest (one bar
// per layer), Done and Total are bytes. Cached layers are reported once,
// done, with Cached set.
type Progress struct {
	Layer  string
	Done   int64
	Total  int64
	Cached bool
}

// Config is what an image's config says about how to run it.
type Config struct {
	Env        []string `json:"env,omitempty"`
	WorkingDir string   `json:"working_dir,omitempty"`
	User       string   `json:"user,omitempty"`
	Entrypoint []string `json:"entrypoint,omitempty"`
	Cmd        []string `json:"cmd,omitempty"`
}

// LayerInfo is one layer of a fetched image, in the cache.
type LayerInfo struct {
	Digest string
	DiffID string
	Size   int64
}

// Image is a fetched image whose layers are all in the cache.
type Image struct {
	Ref     string // normalised reference
	Digest  string // manifest digest (of the linux/amd64 manifest)
	Config  Config
	Layers  []LayerInfo // oldest first
	Fetched int64       // blob bytes downloaded by this pull
}

// Fetch resolves ref, picks its linux/amd64 image and brings every layer
// into the cache, downloading at most Jobs at once and only the layers
// not cached already. progress may be nil; it is called from one
// goroutine at a time.
func (p *Puller) Fetch(ctx context.Context, ref string, progress func(Progress)) (Image, error) {
	r, err := parse(ref)
	if err != nil {
		return Image{}, err
	}
	kc := p.Keychain
	if kc == nil {
		kc = authn.DefaultKeychain
	}
	base := p.Transport
	if base == nil {
		base = remote.DefaultTransport
	}
	opts := []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(kc), remote.WithPlatform(Platform),
		remote.WithTransport(httpsOnly{base})}
	img, err := remote.Image(r, opts...)
	if err != nil {
		return Image{}, registryError(r.Name(), err)
	}
	digest, err := img.Digest()
	if err != nil {
		return Image{}, registryError(r.Name(), err)
	}
	m, err := img.Manifest()
	if err != nil {
		return Image{}, registryError(r.Name(), err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return Image{}, registryError(r.Name(), err)
	}
	if cf.OS != Platform.OS || cf.Architecture != Platform.Architecture {
		return Image{}, errdefs.FailedPreconditionf("%s is an image for %s/%s: banger runs %s/%s guests; pick a tag or digest built for %s/%s",
			r.Name(), cf.OS, cf.Architecture, Platform.OS, Platform.Architecture, Platform.OS, Platform.Architecture)
	}
	if len(m.Layers) != len(cf.RootFS.DiffIDs) {
		return Image{}, errdefs.InvalidArgumentf("%s: the manifest lists %d layers but the config %d diff ids: the image is broken", r.Name(), len(m.Layers), len(cf.RootFS.DiffIDs))
	}
	out := Image{Ref: r.Name(), Digest: digest.String(), Config: Config{
		Env: cf.Config.Env, WorkingDir: cf.Config.WorkingDir, User: cf.Config.User,
		Entrypoint: cf.Config.Entrypoint, Cmd: cf.Config.Cmd,
	}}
	for i, l := range m.Layers {
		if l.Digest.Algorithm != "sha256" || cf.RootFS.DiffIDs[i].Algorithm != "sha256" {
			return Image{}, errdefs.InvalidArgumentf("%s: layer %s is not addressed by sha256: not supported", r.Name(), l.Digest)
		}
		out.Layers = append(out.Layers, LayerInfo{Digest: l.Digest.String(), DiffID: cf.RootFS.DiffIDs[i].String(), Size: l.Size})
	}
	// The layers still to download take at least their compressed sizes
	// in the cache: refuse before downloading when that cannot fit.
	var need int64
	for _, l := range out.Layers {
		if !p.cached(l.Digest) {
			need += l.Size
		}
	}
	if err := disk.CheckRoom(p.Dir, need, fmt.Sprintf("pulling %s (%d MiB of layers to download)", r.Name(), need>>20)); err != nil {
		return Image{}, err
	}
	fetched, err := p.fetchLayers(ctx, img, out.Layers, progress)
	out.Fetched = fetched
	if err != nil {
		return Image{}, err
	}
	return out, nil
}

// registryError says what a registry failure means for the user.
func registryError(ref string, err error) error {
	var te *transport.Error
	if errors.As(err, &te) {
		switch te.StatusCode {
		case http.StatusUnauthorized, http.StatusForbidden:
			return errdefs.FailedPreconditionf("pull %s: the registry refused access (%d): log in with \"docker login\" as the user the daemon runs as, or check the name: %w", ref, te.StatusCode, err)
		case http.StatusNotFound:
			return errdefs.NotFoundf("pull %s: no such image in the registry: check the name and tag: %w", ref, err)
		}
	}
	if strings.Contains(err.Error(), "no child with platform") {
		return errdefs.FailedPreconditionf("pull %s: the image has no %s/%s variant: %w", ref, Platform.OS, Platform.Architecture, err)
	}
	return errdefs.Unavailablef("pull %s: %w", ref, err)
}

// fetchLayers downloads the layers not in the cache.
func (p *Puller) fetchLayers(ctx context.Context, img v1.Image, layers []LayerInfo, progress func(Progress)) (int64, error) {
	var mu sync.Mutex // serialises progress and guards fetched
	var fetched int64
	report := func(pr Progress) {
		if progress == nil {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		progress(pr)
	}
	jobs := p.Jobs
	if jobs <= 0 {
		jobs = DefaultJobs
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(jobs)
	seen := map[string]bool{}
	for _, l := range layers {
		if seen[l.Digest] {
			continue
		}
		seen[l.Digest] = true
		if p.cached(l.Digest) {
			report(Progress{Layer: l.Digest, Done: l.Size, Total: l.Size, Cached: true})
			continue
		}
		g.Go(func() error {
			n, err := p.download(gctx, img, l, report)
			mu.Lock()
			fetched += n
			mu.Unlock()
			return err
		})
	}
	err := g.Wait()
	return fetched, err
}

// BlobPath is where the cache keeps the blob with digest ("sha256:…").
func (p *Puller) BlobPath(digest string) string {
	return filepath.Join(p.Dir, "blobs", "sha256", strings.TrimPrefix(digest, "sha256:"))
}

func (p *Puller) cached(digest string) bool {
	st, err := os.Lstat(p.BlobPath(digest))
	return err == nil && st.Mode().IsRegular()
}

// download fetches one blob into tmp/, checks its size and sha256 and
// only then renames it into blobs/, so a broken or partial download never
// lands in the cache. It returns the bytes read from the registry.
func (p *Puller) download(ctx context.Context, img v1.Image, l LayerInfo, report func(Progress)) (int64, error) {
	h, err := v1.NewHash(l.Digest)
	if err != nil {
		return 0, errdefs.InvalidArgumentf("layer digest %q: %w", l.Digest, err)
	}
	layer, err := img.LayerByDigest(h)
	if err != nil {
		return 0, fmt.Errorf("layer %s: %w", l.Digest, err)
	}
	tmpDir := filepath.Join(p.Dir, "tmp")
	if err := os.MkdirAll(tmpDir, 0o700); err != nil {
		return 0, fmt.Errorf("create the layer cache %s: %w", tmpDir, err)
	}
	if err := os.MkdirAll(filepath.Dir(p.BlobPath(l.Digest)), 0o700); err != nil {
		return 0, fmt.Errorf("create the layer cache %s: %w", p.Dir, err)
	}
	tmp, err := os.CreateTemp(tmpDir, "blob-*")
	if err != nil {
		return 0, fmt.Errorf("create a download file in %s: %w", tmpDir, err)
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	rc, err := layer.Compressed()
	if err != nil {
		tmp.Close()
		return 0, errdefs.Unavailablef("download layer %s: %w", l.Digest, err)
	}
	cw := &countWriter{report: report, p: Progress{Layer: l.Digest, Total: l.Size}}
	hw := newHasher()
	n, err := io.Copy(io.MultiWriter(tmp, hw, cw), ctxReader{ctx, rc})
	rc.Close()
	cw.flush()
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		if ctx.Err() != nil {
			return n, ctx.Err()
		}
		return n, errdefs.Unavailablef("download layer %s: %w", l.Digest, err)
	}
	if got := sha256Hex(hw); got != l.Digest || n != l.Size {
		return n, errdefs.InvalidArgumentf("download layer %s: the registry sent %d bytes with sha256 %s, want %d bytes: refused (the registry or something between is broken)", l.Digest, n, got, l.Size)
	}
	if err := os.Rename(tmp.Name(), p.BlobPath(l.Digest)); err != nil {
		return n, fmt.Errorf("store layer %s in the cache: %w", l.Digest, err)
	}
	return n, nil
}
