package client

import (
	"context"
	"net/http"

	"banger/internal/api"
)

// DiskUsage returns what banger's files take and the room left.
func (c *Client) DiskUsage(ctx context.Context) (api.DiskUsage, error) {
	var out api.DiskUsage
	return out, c.do(ctx, http.MethodGet, "/system/df", nil, &out)
}

// PruneImages removes the images no VM uses except the default one; with
// dryRun it only lists them.
func (c *Client) PruneImages(ctx context.Context, dryRun bool) (api.PruneReply, error) {
	var out api.PruneReply
	return out, c.do(ctx, http.MethodPost, "/images/prune", api.PruneRequest{DryRun: dryRun}, &out)
}

// PruneVMs deletes the stopped VMs, reporting their deletions' progress;
// with dryRun it only lists them.
func (c *Client) PruneVMs(ctx context.Context, dryRun bool, progress Progress) (api.PruneReply, error) {
	return streamResult[api.PruneReply](ctx, c, http.MethodPost, "/vms/prune", api.PruneRequest{DryRun: dryRun}, progress, "prune")
}

// PruneLayers removes the cached image layers no image needs; with dryRun
// it only lists them.
func (c *Client) PruneLayers(ctx context.Context, dryRun bool) (api.PruneReply, error) {
	var out api.PruneReply
	return out, c.do(ctx, http.MethodPost, "/images/cache/prune", api.PruneRequest{DryRun: dryRun}, &out)
}

// PruneSnapshots deletes the snapshots no VM uses, reporting their
// deletions' progress; with dryRun it only lists them.
func (c *Client) PruneSnapshots(ctx context.Context, dryRun bool, progress Progress) (api.PruneReply, error) {
	return streamResult[api.PruneReply](ctx, c, http.MethodPost, "/snapshots/prune", api.PruneRequest{DryRun: dryRun}, progress, "prune")
}
