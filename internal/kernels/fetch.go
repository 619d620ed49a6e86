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
	report := func(step, detail string, fraction float64) {
		if progress == nil {
			return
		}
		progress(Progress{
			Time: s.cfg.Now(), OpID: opID, Kind: OpFetch, Target: name,
			Step: step, Index: indexOf(steps, step), Total: len(steps), Detail: detail, Fraction: fraction,
		})
	}
	res, err := s.cfg.Host.Distro(ctx, kernelbuild.DistroOptions{Package: req.Package, WorkDir: s.cfg.DistroDir},
		func(p kernelbuild.Progress) { report(p.Step, p.Detail, p.Fraction) })
	if err != nil {
		return Kernel{}, err
	}
	report(stepRecord, "copying into the kernel store", 0)
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	k, err := s.record(rctx, name, SourceDistro, res.Release, sources{
		vmlinux: res.Vmlinux, initrd: res.Initrd, origin: res.Origin(), discovery: res.Discovery,
	})
	if err != nil {
		return Kernel{}, err
	}
	report(stepRecord, k.Name+" "+k.Version, 1)
	return k, nil
}
