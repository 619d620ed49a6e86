package oci

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Layers returns img's layers as Flatten reads them, from the cache.
func (p *Puller) Layers(img Image) []Layer {
	out := make([]Layer, 0, len(img.Layers))
	for _, l := range img.Layers {
		path := p.BlobPath(l.Digest)
		out = append(out, Layer{Digest: l.Digest, DiffID: l.DiffID, Open: func() (io.ReadCloser, error) {
			return os.Open(path)
		}})
	}
	return out
}

// FlattenTo flattens img's cached layers into the tar file dest. The tar
// is written next to dest and renamed into place only once complete, so
// a failed or cancelled flattening leaves no dest behind; what a crash
// left of an earlier flattening to dest is removed first, so the caller
// must not flatten to one dest twice at once. A cached blob that no
// longer matches its digest is removed from the cache, so the next pull
// downloads it again.
func (p *Puller) FlattenTo(ctx context.Context, img Image, dest string) (FlattenStats, error) {
	pattern := "." + filepath.Base(dest) + ".*.tmp"
	if stale, err := filepath.Glob(filepath.Join(filepath.Dir(dest), pattern)); err == nil {
		for _, f := range stale {
			_ = os.Remove(f)
		}
	}
	tmp, err := os.CreateTemp(filepath.Dir(dest), pattern)
	if err != nil {
		return FlattenStats{}, fmt.Errorf("create the flattened image next to %s: %w", dest, err)
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	spool := filepath.Join(p.Dir, "tmp")
	if err := os.MkdirAll(spool, 0o700); err != nil {
		tmp.Close()
		return FlattenStats{}, fmt.Errorf("create the layer cache %s: %w", spool, err)
	}
	st, err := Flatten(ctx, p.Layers(img), tmp, FlattenOptions{TempDir: spool})
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	var bad *badBlobError
	if errors.As(err, &bad) {
		_ = os.Remove(p.BlobPath(bad.digest))
	}
	if err != nil {
		return FlattenStats{}, err
	}
	if err := os.Rename(tmp.Name(), dest); err != nil {
		return FlattenStats{}, fmt.Errorf("store the flattened image at %s: %w", dest, err)
	}
	return st, nil
}

// RemoveUnused deletes the cached blobs whose digests are not in keep,
// and whatever is in tmp/ (downloads and spools of pulls a crash cut
// short), and returns how many blobs it deleted and their bytes. It must
// not run while a pull does.
func (p *Puller) RemoveUnused(keep map[string]bool) (int, int64, error) {
	tmp := filepath.Join(p.Dir, "tmp")
	if ents, err := os.ReadDir(tmp); err == nil {
		for _, e := range ents {
			_ = os.RemoveAll(filepath.Join(tmp, e.Name()))
		}
	}
	dir := filepath.Join(p.Dir, "blobs", "sha256")
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, fmt.Errorf("list the layer cache %s: %w", dir, err)
	}
	var n int
	var size int64
	for _, e := range ents {
		if keep["sha256:"+e.Name()] {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
			return n, size, fmt.Errorf("remove the cached layer %s: %w", e.Name(), err)
		}
		n++
		size += info.Size()
	}
	return n, size, nil
}
