package oci

import (
	"github.com/google/go-containerregistry/pkg/name"

	"banger/internal/errdefs"
)

// Normalize parses an image reference the way Docker does and returns its
// full form: "debian:12" is "index.docker.io/library/debian:12", a
// reference without a tag or digest gets ":latest", and a digest
// reference ("repo@sha256:…") is kept as it is.
func Normalize(ref string) (string, error) {
	r, err := parse(ref)
	if err != nil {
		return "", err
	}
	return r.Name(), nil
}

func parse(ref string) (name.Reference, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return nil, errdefs.InvalidArgumentf("%q is not an image reference (like debian:12, ghcr.io/owner/image:tag or image@sha256:…): %w", ref, err)
	}
	return r, nil
}
