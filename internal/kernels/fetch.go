package kernels

import (
	"context"
	"time"

	"banger/internal/kernelbuild"
	"banger/internal/names"
)

// OpFetch is the operation kind of a distro kernel fetch in progress
// events.
const OpFetch = "kernel.fetch"

// Fetch takes the kernel of a distribution package (installed, or
// downloaded from the configured mirror), with the initramfs banger
// builds for it, and records a copy as req.Name ("default" when empty).
// progress, when set, gets a Progress for every report.
func (s *Service) Fetch(ctx context.Context, opID string, req FetchRequest, progress func(Progress)) (Kernel, error) {
	name := req.Name
	if name == "" {
		name = DefaultName
	}
	if err := names.ValidateAs("kernel", name); err != nil {
		return Kernel{}, err
	}
	if err := s.nameFree(ctx, name); err != nil {
		return Kernel{}, err
	}
	steps := append(append([]string(nil), kernelbuild.DistroSteps...), stepRecord)
	report := func(p kernelbuild.Progress) {
		if progress == nil {
			return
		}
		progress(Progress{
			Time: s.cfg.Now(), OpID: opID, Kind: OpFetch, Target: name,
			Step: p.Step, Index: indexOf(steps, p.Step), Total: len(steps), Detail: p.Detail, Fraction: p.Fraction,
			Current: p.Current, TotalUnits: p.TotalUnits, Unit: p.Unit,
		})
	}
	res, err := s.cfg.Host.Distro(ctx, kernelbuild.DistroOptions{Package: req.Package, WorkDir: s.cfg.DistroDir}, report)
	if err != nil {
		return Kernel{}, err
	}
	report(kernelbuild.Progress{Step: stepRecord, Detail: "copying into the kernel store"})
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	k, err := s.record(rctx, name, SourceDistro, res.Release, sources{
		vmlinux: res.Vmlinux, initrd: res.Initrd, origin: res.Origin(), discovery: res.Discovery, hz: res.HZ,
	})
	if err != nil {
		return Kernel{}, err
	}
	report(kernelbuild.Progress{Step: stepRecord, Detail: k.Name + " " + k.Version, Fraction: 1})
	return k, nil
}
