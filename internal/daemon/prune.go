package daemon

import (
	"context"
	"net/http"

	"banger/internal/api"
	"banger/internal/disk"
)

// pruneVMs deletes the stopped VMs (POST /v1/vms/prune), each as its own
// vm.delete operation, streaming their steps like any long operation.
func (d *Daemon) pruneVMs(w http.ResponseWriter, r *http.Request) {
	var req api.PruneRequest
	if err := decode(w, r, &req); err != nil {
		d.writeError(w, r, err)
		return
	}
	d.runOp(w, r, http.StatusOK, func(ctx context.Context, opID string, p func(api.Event)) (any, error) {
		// Measure first: once deleted, a VM's directory is gone.
		stopped, err := d.vms.Prune(ctx, opID, true, nil)
		if err != nil {
			return nil, err
		}
		size := map[string]int64{}
		for _, v := range stopped {
			u, err := disk.UsageOf(v.Dir)
			if err != nil {
				return nil, err
			}
			size[v.ID] = u.Exclusive() // blocks shared with the image stay
		}
		removed := stopped
		if !req.DryRun {
			if removed, err = d.vms.Prune(ctx, opID, false, vmProgress(p)); err != nil {
				return nil, err
			}
		}
		reply := api.PruneReply{DryRun: req.DryRun, Removed: []api.PrunedItem{}}
		for _, v := range removed {
			reply.Removed = append(reply.Removed, api.PrunedItem{ID: v.ID, Name: v.Name, Allocated: size[v.ID]})
			reply.Reclaimed += size[v.ID]
		}
		return reply, nil
	})
}

// pruneImages removes the images no VM uses except the default one (POST
// /v1/images/prune).
func (d *Daemon) pruneImages(w http.ResponseWriter, r *http.Request) {
	var req api.PruneRequest
	if err := decode(w, r, &req); err != nil {
		d.writeError(w, r, err)
		return
	}
	ctx := r.Context()
	cat, err := d.imageSpace(ctx)
	if err != nil {
		d.writeError(w, r, err)
		return
	}
	// What each image's removal frees, as df counts it.
	size := map[string]int64{}
	for _, it := range cat.Items {
		if it.Reclaimable {
			size[it.Name] = it.Allocated
		}
	}
	if !req.DryRun {
		// An unused image's warm snapshots go with it.
		unused, err := d.images.Unused(ctx, d.keptImages())
		if err != nil {
			d.writeError(w, r, err)
			return
		}
		for _, img := range unused {
			if err := d.vms.RemoveWarm(ctx, img.ID); err != nil {
				d.writeError(w, r, err)
				return
			}
		}
	}
	removed, err := d.images.Prune(ctx, d.keptImages(), req.DryRun)
	if err != nil {
		d.writeError(w, r, err)
		return
	}
	reply := api.PruneReply{DryRun: req.DryRun, Removed: []api.PrunedItem{}}
	for _, img := range removed {
		reply.Removed = append(reply.Removed, api.PrunedItem{ID: img.ID, Name: img.Name, Allocated: size[img.Name]})
		reply.Reclaimed += size[img.Name]
	}
	writeJSON(w, http.StatusOK, reply)
}

// pruneLayers removes the cached layers no image needs (POST
// /v1/images/cache/prune).
func (d *Daemon) pruneLayers(w http.ResponseWriter, r *http.Request) {
	var req api.PruneRequest
	if err := decode(w, r, &req); err != nil {
		d.writeError(w, r, err)
		return
	}
	ctx := r.Context()
	cat, err := d.layerSpace(ctx)
	if err != nil {
		d.writeError(w, r, err)
		return
	}
	size := map[string]int64{}
	for _, it := range cat.Items {
		size[it.Detail] = it.Allocated
	}
	removed, err := d.images.PruneLayers(ctx, req.DryRun)
	if err != nil {
		d.writeError(w, r, err)
		return
	}
	reply := api.PruneReply{DryRun: req.DryRun, Removed: []api.PrunedItem{}}
	for _, l := range removed {
		reply.Removed = append(reply.Removed, api.PrunedItem{ID: l.Digest, Name: shortDigest(l.Digest), Allocated: size[l.Digest]})
		reply.Reclaimed += size[l.Digest]
	}
	writeJSON(w, http.StatusOK, reply)
}

// pruneSnapshots deletes the snapshots no VM uses (POST
// /v1/snapshots/prune), each as its own snapshot.delete operation,
// streaming their steps.
func (d *Daemon) pruneSnapshots(w http.ResponseWriter, r *http.Request) {
	var req api.PruneRequest
	if err := decode(w, r, &req); err != nil {
		d.writeError(w, r, err)
		return
	}
	d.runOp(w, r, http.StatusOK, func(ctx context.Context, opID string, p func(api.Event)) (any, error) {
		// Measure first: once deleted, a snapshot's directory is gone.
		unused, err := d.vms.PruneSnapshots(ctx, opID, true, nil)
		if err != nil {
			return nil, err
		}
		size := map[string]int64{}
		for _, sn := range unused {
			u, err := disk.UsageOf(sn.Dir)
			if err != nil {
				return nil, err
			}
			size[sn.ID] = u.Allocated
		}
		removed := unused
		if !req.DryRun {
			if removed, err = d.vms.PruneSnapshots(ctx, opID, false, vmProgress(p)); err != nil {
				return nil, err
			}
		}
		reply := api.PruneReply{DryRun: req.DryRun, Removed: []api.PrunedItem{}}
		for _, sn := range removed {
			reply.Removed = append(reply.Removed, api.PrunedItem{ID: sn.ID, Name: sn.Name, Allocated: size[sn.ID]})
			reply.Reclaimed += size[sn.ID]
		}
		return reply, nil
	})
}
