package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"banger/internal/api"
)

// SnapshotVM saves the running or paused VM ref as a snapshot named name
// (empty: generated).
func (c *Client) SnapshotVM(ctx context.Context, ref, name string, progress Progress) (api.Snapshot, error) {
	ev, err := c.stream(ctx, http.MethodPost, "/vms/"+esc(ref)+"/snapshot", api.SnapshotVMRequest{Name: name}, progress)
	if err != nil {
		return api.Snapshot{}, err
	}
	var sn api.Snapshot
	if err := json.Unmarshal(ev.Result, &sn); err != nil {
		return api.Snapshot{}, fmt.Errorf("bad snapshot result from bangerd: %w", err)
	}
	return sn, nil
}

// ForkVM makes copies of the running or paused VM ref (see
// api.ForkVMRequest), reporting progress.
func (c *Client) ForkVM(ctx context.Context, ref string, req api.ForkVMRequest, progress Progress) ([]api.VM, error) {
	ev, err := c.stream(ctx, http.MethodPost, "/vms/"+esc(ref)+"/fork", req, progress)
	if err != nil {
		return nil, err
	}
	var out []api.VM
	if err := json.Unmarshal(ev.Result, &out); err != nil {
		return nil, fmt.Errorf("bad fork result from bangerd: %w", err)
	}
	return out, nil
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
	ev, err := c.stream(ctx, http.MethodPost, "/images/"+esc(ref)+"/warm", req, progress)
	if err != nil {
		return api.WarmImageReply{}, err
	}
	var out api.WarmImageReply
	if err := json.Unmarshal(ev.Result, &out); err != nil {
		return api.WarmImageReply{}, fmt.Errorf("bad warm result from bangerd: %w", err)
	}
	return out, nil
}
