package oci

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Blob is one file of the layer cache.
type Blob struct {
	Digest string // "sha256:<hex>"
	Path   string
}

// Blobs lists the cached layer blobs, for accounting and for telling the
// unused ones apart before RemoveUnused deletes them. An empty or missing
// cache has none.
func (p *Puller) Blobs() ([]Blob, error) {
	dir := filepath.Join(p.Dir, "blobs", "sha256")
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list the layer cache %s: %w", dir, err)
	}
	out := make([]Blob, 0, len(ents))
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		out = append(out, Blob{Digest: "sha256:" + e.Name(), Path: filepath.Join(dir, e.Name())})
	}
	return out, nil
}
