package daemon

import (
	"banger/internal/imagebuild"
	"context"
	"net/http"
	"path/filepath"

	"banger/internal/api"
	"banger/internal/disk"
	"banger/internal/images"
	"banger/internal/oci"
)

// imagePuller adapts package oci to the images service. Registry
// credentials are those of the user the daemon runs as (its
// $DOCKER_CONFIG or ~/.docker/config.json and credential helpers): the
// CLI never sends credentials to the daemon.
type imagePuller struct{ p *oci.Puller }

func (ip imagePuller) Normalize(ref string) (string, error) { return oci.Normalize(ref) }

func (ip imagePuller) Fetch(ctx context.Context, ref string, progress func(images.LayerProgress)) (images.Pulled, error) {
	img, err := ip.p.Fetch(ctx, ref, func(p oci.Progress) {
		progress(images.LayerProgress{Layer: p.Layer, Done: p.Done, Total: p.Total, Cached: p.Cached})
	})
	if err != nil {
		return images.Pulled{}, err
	}
	out := images.Pulled{Ref: img.Ref, Digest: img.Digest, Fetched: img.Fetched, Config: images.RunConfig{
		Env: img.Config.Env, WorkingDir: img.Config.WorkingDir, User: img.Config.User,
		Entrypoint: img.Config.Entrypoint, Cmd: img.Config.Cmd,
	}}
	for _, l := range img.Layers {
		out.Layers = append(out.Layers, images.PulledLayer{Digest: l.Digest, DiffID: l.DiffID, Size: l.Size})
	}
	return out, nil
}

func (ip imagePuller) Flatten(ctx context.Context, img images.Pulled, dest string) error {
	in := oci.Image{Ref: img.Ref, Digest: img.Digest}
	for _, l := range img.Layers {
		in.Layers = append(in.Layers, oci.LayerInfo{Digest: l.Digest, DiffID: l.DiffID, Size: l.Size})
	}
	_, err := ip.p.FlattenTo(ctx, in, dest)
	return disk.RoomError(err, filepath.Dir(dest))
}

func (ip imagePuller) MakeBootable(ctx context.Context, tar, dest string, progress func(string)) (string, error) {
	agent, err := agentBinary()
	if err != nil {
		return "", err
	}
	res, err := imagebuild.FromTar(ctx, imagebuild.TarOptions{Tar: tar, AgentBinary: agent, Dest: dest}, func(p imagebuild.Progress) {
		if progress == nil {
			return
		}
		if p.Detail != "" {
			progress(p.Step + ": " + p.Detail)
		} else {
			progress(p.Step)
		}
	})
	if err != nil {
		return "", err
	}
	return res.Init, nil
}

func (ip imagePuller) RemoveUnusedLayers(keep map[string]bool) error {
	_, _, err := ip.p.RemoveUnused(keep)
	return err
}

func (ip imagePuller) CachedLayers() ([]images.CachedLayer, error) {
	blobs, err := ip.p.Blobs()
	if err != nil {
		return nil, err
	}
	out := make([]images.CachedLayer, 0, len(blobs))
	for _, b := range blobs {
		out = append(out, images.CachedLayer{Digest: b.Digest, Path: b.Path})
	}
	return out, nil
}

func (d *Daemon) pullImage(w http.ResponseWriter, r *http.Request) {
	var req api.PullImageRequest
	if err := decode(w, r, &req); err != nil {
		d.writeError(w, r, err)
		return
	}
	d.runOp(w, r, http.StatusCreated, func(ctx context.Context, opID string, p func(api.Event)) (any, error) {
		target := req.Name
		if target == "" {
			target = req.Ref
		}
		progress := func(ip images.Progress) {
			if p != nil {
				p(apiImageProgress(ip, opImagePull, opID, target))
			}
		}
		img, err := d.images.Pull(ctx, imagePullRequest(req), progress)
		return apiImage(img), err
	})
}
