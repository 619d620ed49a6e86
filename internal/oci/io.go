package oci

import (
	"context"
	"crypto/sha256"
	"hash"
	"io"
)

func newHasher() hash.Hash { return sha256.New() }

// ctxReader stops reading once ctx ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// countWriter reports download progress every progressStep bytes.
type countWriter struct {
	report func(Progress)
	p      Progress
	last   int64
}

const progressStep = 1 << 20

func (c *countWriter) Write(b []byte) (int, error) {
	c.p.Done += int64(len(b))
	if c.p.Done-c.last >= progressStep {
		c.flush()
	}
	return len(b), nil
}

func (c *countWriter) flush() {
	c.last = c.p.Done
	c.report(c.p)
}
