package vm

import (
	"context"

	"banger/internal/store"
)

// Get returns the VM named or identified by ref.
func (s *Service) Get(ctx context.Context, ref string) (VM, error) {
	rec, err := s.store.GetVM(ctx, ref)
	if err != nil {
		return VM{}, err
	}
	return s.toVM(ctx, rec), nil
}

// List returns every VM.
func (s *Service) List(ctx context.Context) ([]VM, error) {
	recs, err := s.store.ListVMs(ctx)
	if err != nil {
		return nil, err
	}
	imgs, err := s.store.ListImages(ctx)
	if err != nil {
		return nil, err
	}
	names := make(map[string]string, len(imgs))
	for _, img := range imgs {
		names[img.ID] = img.Name
	}
	leases, err := s.store.ListLeases(ctx)
	if err != nil {
		return nil, err
	}
	byVM := make(map[string]store.Lease, len(leases))
	for _, l := range leases {
		byVM[l.VMID] = l
	}
	wss, err := s.store.ListWorkspaces(ctx)
	if err != nil {
		return nil, err
	}
	wsOf := make(map[string]store.Workspace, len(wss))
	for _, w := range wss {
		wsOf[w.VMID] = w
	}
	out := make([]VM, 0, len(recs))
	for _, rec := range recs {
		v := toVM(rec, names[rec.ImageID])
		if l, ok := byVM[rec.ID]; ok {
			s.addNet(&v, l)
		}
		if w, ok := wsOf[rec.ID]; ok {
			v.Workspace = toWorkspace(w)
		}
		out = append(out, v)
	}
	return out, nil
}

func (s *Service) toVM(ctx context.Context, rec store.VM) VM {
	name := rec.ImageID
	if img, err := s.store.GetImage(ctx, rec.ImageID); err == nil {
		name = img.Name
	}
	v := toVM(rec, name)
	if l, err := s.store.GetLease(ctx, rec.ID); err == nil {
		s.addNet(&v, l)
	}
	if w, err := s.store.GetWorkspace(ctx, rec.ID); err == nil {
		v.Workspace = toWorkspace(w)
	}
	if rec.SnapshotID != "" {
		v.Snapshot = rec.SnapshotID
		if sn, err := s.store.GetSnapshot(ctx, rec.SnapshotID); err == nil {
			v.Snapshot = sn.Name
		}
	}
	return v
}

func toWorkspace(w store.Workspace) *Workspace {
	return &Workspace{HostPath: w.HostPath, GuestPath: w.GuestPath, BaseCommit: w.BaseCommit, Branch: w.Branch, PreparedAt: w.PreparedAt}
}

// addNet fills in the network fields of v from its lease.
func (s *Service) addNet(v *VM, l store.Lease) {
	v.IP, v.MAC = l.IP.String(), l.MAC
	if s.defaults.Domain != "" {
		v.DNSName = v.Name + "." + s.defaults.Domain
	}
}

func toVM(rec store.VM, image string) VM {
	v := VM{
		ID:        rec.ID,
		Name:      rec.Name,
		State:     State(rec.State),
		Image:     image,
		VCPUs:     rec.VCPUs,
		MemoryMiB: rec.MemoryMiB,
		DiskBytes: rec.DiskBytes,
		Driver:    rec.Driver,
		Dir:       rec.Dir,
		LastError: rec.LastError,
		CreatedAt: rec.CreatedAt,
		NAT:       rec.NAT,
		NetGroup:  rec.NetGroup,
		Labels:    rec.Labels,
	}
	if State(rec.State) == StateRunning || State(rec.State) == StatePaused {
		v.PID = rec.PID
		v.StartedAt = rec.StartedAt
	}
	return v
}
