package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"banger/internal/api"
	"banger/internal/errdefs"
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
	ev, err := c.stream(ctx, http.MethodPost, path, req, progress)
	if err != nil {
		return api.Image{}, err
	}
	if len(ev.Result) == 0 {
		return api.Image{}, errdefs.Internalf("bangerd returned no image (op %s)", ev.OpID)
	}
	var img api.Image
	if err := json.Unmarshal(ev.Result, &img); err != nil {
		return api.Image{}, fmt.Errorf("decode the image: %w", err)
	}
	return img, nil
}
