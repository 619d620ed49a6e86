package client

import (
	"context"
	"net/http"

	"banger/internal/api"
)

// BuildImage builds an image from Debian packages, reporting progress.
func (c *Client) BuildImage(ctx context.Context, req api.BuildImageRequest, progress Progress) (api.Image, error) {
	return c.imageOp(ctx, "/images/build", req, progress)
}

// PullImage pulls an OCI image, reporting download and flatten progress.
func (c *Client) PullImage(ctx context.Context, req api.PullImageRequest, progress Progress) (api.Image, error) {
	return c.imageOp(ctx, "/images/pull", req, progress)
}

// imageOp runs a long image operation whose result is an image.
func (c *Client) imageOp(ctx context.Context, path string, req any, progress Progress) (api.Image, error) {
	return streamResult[api.Image](ctx, c, http.MethodPost, path, req, progress, "image")
}
