package images

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"banger/internal/errdefs"
	"banger/internal/names"
	"banger/internal/store"
)

// Puller fetches OCI images into a layer cache and flattens them.
type Puller interface {
	// Normalize returns the full form of an image reference.
	Normalize(ref string) (string, error)
	// Fetch brings ref's linux/amd64 image into the layer cache.
	Fetch(ctx context.Context, ref string, progress func(LayerProgress)) (Pulled, error)
	// Flatten writes the image's flattened root filesystem tar to dest,
	// all or nothing, removing what a crash left of an earlier Flatten to
	// dest. It is never called twice at once for one dest.
	Flatten(ctx context.Context, img Pulled, dest string) error
	// RemoveUnusedLayers deletes the cached layers not in keep.
	RemoveUnusedLayers(keep map[string]bool) error
	// MakeBootable writes dest, a bootable ext4 root filesystem made
	// from the flattened tar with the guest agent injected, all or
	// nothing, and returns how it boots (InitSystemd or InitAgent).
	// progress, which may be nil, hears what it is doing.
	MakeBootable(ctx context.Context, tar, dest string, progress func(detail string)) (string, error)
	// CachedLayers lists the layers in the cache.
	CachedLayers() ([]CachedLayer, error)
}

// CachedLayer is one layer blob in the cache.
type CachedLayer struct {
	Digest string
	Path   string
}

// LayerProgress is how far the download of one layer has got.
type LayerProgress struct {
	Layer       string
	Done, Total int64
	Cached      bool
}

// Pulled is a fetched image whose layers are in the cache.
type Pulled struct {
	Ref     string
	Digest  string
	Config  RunConfig
	Layers  []PulledLayer
	Fetched int64 // bytes downloaded
}

// PulledLayer is one layer of a Pulled image.
type PulledLayer struct {
	Digest, DiffID string
	Size           int64
}

// pulls is the state of image pulls: where their results live, which
// names are being pulled, and a lock that pulls share and the layer
// cache's clean-up takes alone.
type pulls struct {
	puller  Puller
	dir     string
	mu      sync.Mutex
	running map[string]bool
	cache   sync.RWMutex
}

// WithPuller lets the Service pull OCI images with p, storing the
// flattened trees under dir (StateDir/images). Without it Pull is
// refused.
func WithPuller(p Puller, dir string) Option {
	return func(s *Service) { s.pulls = &pulls{puller: p, dir: dir, running: map[string]bool{}} }
}

// Pull steps.
const (
	stepDownload = "download layers"
	stepFlatten  = "flatten layers"
	stepDisk     = "make the root disk"
	pullSteps    = 3
)

// Pull fetches an OCI image, flattens it, makes a bootable root disk of
// it and records it as a ready image that boots with the default kernel
// and keeps the image's run config. The name and the kernel are checked
// before anything is downloaded; a failed pull leaves no record and no
// files but the verified layers it cached. progress may be nil.
func (s *Service) Pull(ctx context.Context, req PullRequest, progress func(Progress)) (Image, error) {
	if s.pulls == nil {
		return Image{}, errdefs.FailedPreconditionf("this daemon cannot pull images: it was started without a registry client")
	}
	if progress == nil {
		progress = func(Progress) {}
	}
	ref, err := s.pulls.puller.Normalize(req.Ref)
	if err != nil {
		return Image{}, err
	}
	if req.Name == "" {
		req.Name = NameFromRef(ref)
	}
	if err := names.ValidateAs("image", req.Name); err != nil {
		return Image{}, err
	}
	if old, err := s.store.GetImage(ctx, req.Name); err == nil {
		if req.IfMissing && old.Source == ref && old.State == store.ImageReady {
			return toImage(old), nil
		}
		return Image{}, errdefs.AlreadyExistsf("an image named %q already exists: pick another name with --name, or remove it with \"banger image rm %s\"", req.Name, req.Name)
	} else if errdefs.KindOf(err) != errdefs.NotFound {
		return Image{}, err
	}
	k, err := s.store.GetKernel(ctx, DefaultKernel)
	if errdefs.KindOf(err) == errdefs.NotFound {
		return Image{}, errdefs.NotFoundf("no kernel named %q to boot the pulled image: add one with \"banger kernel fetch\" (or \"banger kernel build\")", DefaultKernel)
	}
	if err != nil {
		return Image{}, err
	}
	if !s.pulls.claim(req.Name) {
		return Image{}, errdefs.AlreadyExistsf("an image named %q is being pulled already: wait for that pull or pick another name", req.Name)
	}
	defer s.pulls.release(req.Name)
	s.pulls.cache.RLock()
	defer s.pulls.cache.RUnlock()

	dl := newDownloadProgress(progress)
	pulled, err := s.pulls.puller.Fetch(ctx, ref, dl.report)
	if err != nil {
		return Image{}, err
	}
	// One flattening per image at a time: it writes next to the image's
	// file and clears what a crashed one left there.
	if !s.pulls.claim("digest " + pulled.Digest) {
		return Image{}, errdefs.Unavailablef("%s (%s) is being pulled already under another name: try again once that pull is done", pulled.Ref, pulled.Digest)
	}
	defer s.pulls.release("digest " + pulled.Digest)
	progress(Progress{Step: stepFlatten, Index: 2, Total: pullSteps})
	dir := filepath.Join(s.pulls.dir, strings.TrimPrefix(pulled.Digest, "sha256:"))
	dest := filepath.Join(dir, "rootfs.tar")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Image{}, fmt.Errorf("create the image directory %s: %w", dir, err)
	}
	if _, err := os.Stat(dest); errors.Is(err, fs.ErrNotExist) {
		if err := s.pulls.puller.Flatten(ctx, pulled, dest); err != nil {
			_ = os.Remove(dir) // only when empty: another record may use it
			return Image{}, err
		}
	}
	progress(Progress{Step: stepDisk, Index: 3, Total: pullSteps})
	disk := filepath.Join(dir, diskFile)
	boot := pulled.Config
	if _, err := os.Stat(disk); errors.Is(err, fs.ErrNotExist) {
		init, err := s.pulls.puller.MakeBootable(ctx, dest, disk, func(detail string) {
			progress(Progress{Step: stepDisk, Index: 3, Total: pullSteps, Detail: detail})
		})
		if err == nil {
			err = writeInitFile(dir, init)
		}
		if err != nil {
			// The image's directory goes too, unless another image
			// record uses it.
			_ = os.Remove(disk)
			_ = s.removeBuiltFiles(context.WithoutCancel(ctx), disk)
			return Image{}, err
		}
	}
	if boot.Init, err = readInitFile(dir); err != nil {
		return Image{}, err
	}
	st, err := os.Stat(disk)
	if err != nil {
		return Image{}, fmt.Errorf("the image's root disk %s: %w", disk, err)
	}
	cfg, err := json.Marshal(boot)
	if err != nil {
		return Image{}, fmt.Errorf("record the image config: %w", err)
	}
	img := store.Image{
		ID:         s.newID(),
		Name:       req.Name,
		RootFS:     disk,
		Kernel:     k.Vmlinux,
		Initrd:     k.Initrd,
		RootFSSize: st.Size(),
		CreatedAt:  time.Now(),
		State:      store.ImageReady,
		Source:     pulled.Ref,
		Digest:     pulled.Digest,
		RunConfig:  string(cfg),
	}
	for _, l := range pulled.Layers {
		img.Layers = append(img.Layers, l.Digest)
	}
	if err := s.store.CreateImage(context.WithoutCancel(ctx), img); err != nil {
		_ = s.removeBuiltFiles(context.WithoutCancel(ctx), disk)
		return Image{}, err
	}
	return toImage(img), nil
}

// Files in a pulled image's directory besides the flattened tar.
const (
	diskFile = "rootfs.ext4"
	initFile = "init" // how rootfs.ext4 boots: InitSystemd or InitAgent
)

// How a pulled image boots: RunConfig.Init.
const (
	InitSystemd = "systemd"
	InitAgent   = "agent"
)

func writeInitFile(dir, init string) error {
	if init != InitSystemd && init != InitAgent {
		return fmt.Errorf("the root disk boots with %q, which is neither %q nor %q", init, InitSystemd, InitAgent)
	}
	if err := os.WriteFile(filepath.Join(dir, initFile), []byte(init+"\n"), 0o644); err != nil {
		return fmt.Errorf("record how the image boots: %w", err)
	}
	return nil
}

func readInitFile(dir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, initFile))
	if err != nil {
		return "", fmt.Errorf("read how the image boots: %w: remove the image directory %s and pull again", err, dir)
	}
	return strings.TrimSpace(string(b)), nil
}

func (p *pulls) claim(name string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.running[name] {
		return false
	}
	p.running[name] = true
	return true
}

func (p *pulls) release(name string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.running, name)
}

// removeUnusedLayers deletes the cached layers no image record lists.
// It does nothing while a pull runs (that pull's layers have no record
// yet): a later removal cleans up.
func (s *Service) removeUnusedLayers(ctx context.Context) error {
	if s.pulls == nil || !s.pulls.cache.TryLock() {
		return nil
	}
	defer s.pulls.cache.Unlock()
	imgs, err := s.store.ListImages(ctx)
	if err != nil {
		return err
	}
	keep := map[string]bool{}
	for _, img := range imgs {
		for _, l := range img.Layers {
			keep[l] = true
		}
	}
	return s.pulls.puller.RemoveUnusedLayers(keep)
}

// downloadProgress turns per-layer byte counts into progress reports:
// one for the layer's bar (Bar is its short digest), then one for the
// step, over the bytes of every layer known so far.
type downloadProgress struct {
	report func(LayerProgress)
}

// unitBytes is the Unit of byte counts.
const unitBytes = "bytes"

func newDownloadProgress(progress func(Progress)) *downloadProgress {
	done := map[string]int64{}
	total := map[string]int64{}
	return &downloadProgress{report: func(lp LayerProgress) {
		done[lp.Layer], total[lp.Layer] = lp.Done, lp.Total
		var d, t int64
		for k := range total {
			d += done[k]
			t += total[k]
		}
		layer := Progress{Step: stepDownload, Index: 1, Total: pullSteps, Bar: shortDigest(lp.Layer),
			Current: lp.Done, TotalUnits: lp.Total, Unit: unitBytes, Fraction: fraction(lp.Done, lp.Total)}
		if lp.Cached {
			layer.Detail = "cached"
		}
		progress(layer)
		progress(Progress{Step: stepDownload, Index: 1, Total: pullSteps, Current: d, TotalUnits: t, Unit: unitBytes,
			Fraction: fraction(d, t), Detail: fmt.Sprintf("%d layers", len(total))})
	}}
}

func fraction(done, total int64) float64 {
	if total <= 0 {
		return 1
	}
	return float64(done) / float64(total)
}

func shortDigest(d string) string {
	d = strings.TrimPrefix(d, "sha256:")
	if len(d) > 12 {
		d = d[:12]
	}
	return d
}

var nameJunk = regexp.MustCompile(`[^a-z0-9]+`)

// NameFromRef is the image name a pull of the normalised reference ref
// gets by default: the repository's last element and the tag, or the
// digest's first 12 characters ("index.docker.io/library/debian:12" →
// "debian-12").
func NameFromRef(ref string) string {
	repo, tag := ref, ""
	if i := strings.Index(ref, "@"); i >= 0 {
		repo, tag = ref[:i], shortDigest(strings.TrimPrefix(ref[i+1:], "sha256:"))
	} else if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		repo, tag = ref[:i], ref[i+1:]
	}
	repo = repo[strings.LastIndex(repo, "/")+1:]
	name := strings.Trim(nameJunk.ReplaceAllString(strings.ToLower(repo+"-"+tag), "-"), "-")
	if len(name) > names.MaxLen {
		name = strings.TrimRight(name[:names.MaxLen], "-")
	}
	return name
}
