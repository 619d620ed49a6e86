package client

import (
	"context"
	"net/http"

	"banger/internal/api"
)

// SnapshotVM saves the running or paused VM ref as a snapshot named name
// (empty: generated).
func (c *Client) SnapshotVM(ctx context.Context, ref, name string, progress Progress) (api.Snapshot, error) {
	return streamResult[api.Snapshot](ctx, c, http.MethodPost, "/vms/"+esc(ref)+"/snapshot", api.SnapshotVMRequest{Name: name}, progress, "snapshot")
}

// ForkVM makes copies of the running or paused VM ref (see
// api.ForkVMRequest), reporting progress.
func (c *Client) ForkVM(ctx context.Context, ref string, req api.ForkVMRequest, progress Progress) ([]api.VM, error) {
	return streamResult[[]api.VM](ctx, c, http.MethodPost, "/vms/"+esc(ref)+"/fork", req, progress, "fork")
}

// ListSnapshots returns every snapshot.
func (c *Client) ListSnapshots(ctx context.Context) ([]api.Snapshot, error) {
	var out []api.Snapshot
	return out, c.do(ctx, http.MethodGet, "/snapshots", nil, &out)
}

// GetSnapshot returns one snapshot by name or id.
func (c *Client) GetSnapshot(ctx context.Context, ref string) (api.Snapshot, error) {
	var out api.Snapshot
	return out, c.do(ctx, http.MethodGet, "/snapshots/"+esc(ref), nil, &out)
}

// DeleteSnapshot removes a snapshot and its files.
func (c *Client) DeleteSnapshot(ctx context.Context, ref string, progress Progress) error {
	_, err := c.stream(ctx, http.MethodDelete, "/snapshots/"+esc(ref), nil, progress)
	return err
}

// WarmImage makes the warm snapshot of image ref for the shape in req
// unless a matching one exists, reporting the builder VM's progress.
func (c *Client) WarmImage(ctx context.Context, ref string, req api.WarmImageRequest, progress Progress) (api.WarmImageReply, error) {
	return streamResult[api.WarmImageReply](ctx, c, http.MethodPost, "/images/"+esc(ref)+"/warm", req, progress, "warm")
}
