package oci

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"fmt"
	"hash"
	"io"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"banger/internal/errdefs"
)

// verifiedReader decompresses a layer blob and hashes both the blob and
// the uncompressed stream, so Verify can check them against the layer's
// digest and diff id once the stream has been read.
type verifiedReader struct {
	digest, diffID string
	blob           hash.Hash
	diff           hash.Hash
	raw            io.Reader // the blob, hashed
	plain          io.Reader // the uncompressed stream, hashed
	closer         func()
}

func newVerifiedReader(r io.Reader, digest, diffID string) (*verifiedReader, error) {
	v := &verifiedReader{digest: digest, diffID: diffID, blob: sha256.New(), diff: sha256.New(), closer: func() {}}
	br := bufio.NewReaderSize(io.TeeReader(r, v.blob), 1<<16)
	v.raw = br
	magic, _ := br.Peek(4)
	var dec io.Reader
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, errdefs.InvalidArgumentf("layer %s: read its gzip header: %w", digest, err)
		}
		dec, v.closer = zr, func() { zr.Close() }
	case bytes.HasPrefix(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, errdefs.InvalidArgumentf("layer %s: read its zstd header: %w", digest, err)
		}
		dec, v.closer = zr, zr.Close
	default:
		dec = br
	}
	v.plain = io.TeeReader(dec, v.diff)
	return v, nil
}

func (v *verifiedReader) Read(p []byte) (int, error) { return v.plain.Read(p) }

func (v *verifiedReader) Close() error {
	v.closer()
	return nil
}

// Blame returns a badBlobError when the blob does not match its digest
// (read to its end for this), and err otherwise: an error met while
// reading a corrupt blob is the corruption's fault, not the layer's.
func (v *verifiedReader) Blame(err error) error {
	if _, rerr := io.Copy(io.Discard, v.raw); rerr != nil {
		return err
	}
	if got := sha256Hex(v.blob); got != v.digest {
		return &badBlobError{digest: v.digest, err: errdefs.InvalidArgumentf("layer %s: the blob's sha256 is %s: the layer is corrupt or was tampered with; pull again", v.digest, got)}
	}
	return err
}

// Verify reads what is left of both streams and checks the hashes.
func (v *verifiedReader) Verify() error {
	if _, err := io.Copy(io.Discard, v.plain); err != nil {
		return v.Blame(errdefs.InvalidArgumentf("layer %s: read to its end: %w", v.digest, err))
	}
	if _, err := io.Copy(io.Discard, v.raw); err != nil {
		return errdefs.InvalidArgumentf("layer %s: read to its end: %w", v.digest, err)
	}
	if got := sha256Hex(v.blob); got != v.digest {
		return &badBlobError{digest: v.digest, err: errdefs.InvalidArgumentf("layer %s: the blob's sha256 is %s: the layer is corrupt or was tampered with; pull again", v.digest, got)}
	}
	if got := sha256Hex(v.diff); v.diffID != "" && got != v.diffID {
		return errdefs.InvalidArgumentf("layer %s: its uncompressed tar has sha256 %s but the image config says %s: refused", v.digest, got, v.diffID)
	}
	return nil
}

// sha256Hex is the digest form of a hash.
func sha256Hex(h hash.Hash) string { return fmt.Sprintf("sha256:%x", h.Sum(nil)) }

// badBlobError is a blob whose content does not match its digest.
type badBlobError struct {
	digest string
	err    error
}

func (e *badBlobError) Error() string { return e.err.Error() }
func (e *badBlobError) Unwrap() error { return e.err }
