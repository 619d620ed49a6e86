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
	ev, err := c.stream(ctx, http.MethodPost, "/images/build", req, progress)
	if err != nil {
		return api.Image{}, err
	}
	if len(ev.Result) == 0 {
		return api.Image{}, errdefs.Internalf("bangerd returned no image (op %s)", ev.OpID)
	}
	var img api.Image
	if err := json.Unmarshal(ev.Result, &img); err != nil {
		return api.Image{}, fmt.Errorf("decode the built image: %w", err)
	}
	return img, nil
}
