package daemon

import (
	"context"
	"net/http"

	"banger/internal/api"
	"banger/internal/vm"
)

func (d *Daemon) snapshotVM(w http.ResponseWriter, r *http.Request) {
	var req api.SnapshotVMRequest
	if err := decode(w, r, &req); err != nil {
		d.writeError(w, r, err)
		return
	}
	ref := r.PathValue("ref")
	d.runOp(w, r, http.StatusCreated, func(ctx context.Context, opID string, p func(api.Event)) (any, error) {
		sn, err := d.vms.SnapshotVM(ctx, opID, ref, req.Name, vmProgress(p))
		return apiSnapshot(sn), err
	})
}

func (d *Daemon) forkVM(w http.ResponseWriter, r *http.Request) {
	var req api.ForkVMRequest
	if err := decode(w, r, &req); err != nil {
		d.writeError(w, r, err)
		return
	}
	ref := r.PathValue("ref")
	d.runOp(w, r, http.StatusCreated, func(ctx context.Context, opID string, p func(api.Event)) (any, error) {
		copies, err := d.vms.Fork(ctx, opID, ref, vm.ForkRequest{Name: req.Name, Count: req.Count, NAT: req.NAT,
			NetGroup: req.NetGroup, Labels: req.Labels}, vmProgress(p))
		return mapSlice(copies, apiVM), err
	})
}

func (d *Daemon) listSnapshots(w http.ResponseWriter, r *http.Request) {
	list, err := d.vms.Snapshots(r.Context())
	if err != nil {
		d.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, mapSlice(list, apiSnapshot))
}

func (d *Daemon) getSnapshot(w http.ResponseWriter, r *http.Request) {
	sn, err := d.vms.GetSnapshot(r.Context(), r.PathValue("ref"))
	if err != nil {
		d.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, apiSnapshot(sn))
}

func (d *Daemon) deleteSnapshot(w http.ResponseWriter, r *http.Request) {
	ref := r.PathValue("ref")
	d.runOp(w, r, http.StatusOK, func(ctx context.Context, opID string, p func(api.Event)) (any, error) {
		return struct{}{}, d.vms.DeleteSnapshot(ctx, opID, ref, vmProgress(p))
	})
}

func apiSnapshot(s vm.Snapshot) api.Snapshot {
	return api.Snapshot{ID: s.ID, Name: s.Name, State: s.State, VM: s.VM, VMID: s.VMID, Image: s.Image,
		Driver: s.Driver, VCPUs: s.VCPUs, MemoryMiB: s.MemoryMiB, DiskBytes: s.DiskBytes,
		SizeBytes: s.SizeBytes, CreatedAt: s.CreatedAt, Warm: s.Warm, Auto: s.Auto}
}

// warmImage makes the warm snapshot of an image for a VM shape (POST
// /v1/images/{ref}/warm) unless a matching one is there.
func (d *Daemon) warmImage(w http.ResponseWriter, r *http.Request) {
	var req api.WarmImageRequest
	if err := decode(w, r, &req); err != nil {
		d.writeError(w, r, err)
		return
	}
	ref := r.PathValue("ref")
	d.runOp(w, r, http.StatusOK, func(ctx context.Context, opID string, p func(api.Event)) (any, error) {
		sn, made, err := d.vms.Warm(ctx, opID, vm.CreateRequest{Image: ref, VCPUs: req.VCPUs, MemoryMiB: req.MemoryMiB, DiskBytes: req.DiskBytes}, vmProgress(p))
		return api.WarmImageReply{Snapshot: apiSnapshot(sn), Made: made}, err
	})
}
