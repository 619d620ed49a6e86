package daemon

import (
	"banger/internal/api"
	"banger/internal/doctor"
	"banger/internal/images"
	"banger/internal/kernels"
	"banger/internal/vm"
)

// This file is the one place where the services' own types become the
// API's wire types and back: one section per resource. The services never
// see package api.

// mapSlice maps every element of in with f. A nil slice stays nil and an
// empty one empty: JSON tells null and [] apart.
func mapSlice[S, T any](in []S, f func(S) T) []T {
	if in == nil {
		return nil
	}
	out := make([]T, len(in))
	for i, v := range in {
		out[i] = f(v)
	}
	return out
}

// VMs.

func apiVM(v vm.VM) api.VM {
	return api.VM{
		ID:        v.ID,
		Name:      v.Name,
		State:     apiState(v.State),
		Image:     v.Image,
		VCPUs:     v.VCPUs,
		MemoryMiB: v.MemoryMiB,
		DiskBytes: v.DiskBytes,
		Driver:    v.Driver,
		PID:       v.PID,
		Dir:       v.Dir,
		LastError: v.LastError,
		CreatedAt: v.CreatedAt,
		StartedAt: v.StartedAt,
		IP:        v.IP,
		MAC:       v.MAC,
		NAT:       v.NAT,
		NetGroup:  v.NetGroup,
		DNSName:   v.DNSName,
		Labels:    v.Labels,
		Workspace: apiWorkspace(v.Workspace),
		Snapshot:  v.Snapshot,
	}
}

func apiWorkspace(w *vm.Workspace) *api.Workspace {
	if w == nil {
		return nil
	}
	return &api.Workspace{HostPath: w.HostPath, GuestPath: w.GuestPath, BaseCommit: w.BaseCommit, Branch: w.Branch, PreparedAt: w.PreparedAt}
}

// apiState is a VM state as the API names it. A state this daemon does not
// know (a record written by a newer one) is shown as stored.
func apiState(s vm.State) string {
	switch s {
	case vm.StateCreating:
		return api.StateCreating
	case vm.StateStopped:
		return api.StateStopped
	case vm.StateStarting:
		return api.StateStarting
	case vm.StateRunning:
		return api.StateRunning
	case vm.StatePaused:
		return api.StatePaused
	case vm.StateStopping:
		return api.StateStopping
	case vm.StateDeleting:
		return api.StateDeleting
	case vm.StateError:
		return api.StateError
	case vm.StateDeleted:
		return api.StateDeleted
	}
	return string(s)
}

func vmCreateRequest(r api.CreateVMRequest) vm.CreateRequest {
	return vm.CreateRequest{
		Name:         r.Name,
		Image:        r.Image,
		VCPUs:        r.VCPUs,
		MemoryMiB:    r.MemoryMiB,
		DiskBytes:    r.DiskBytes,
		Start:        r.Start,
		NAT:          r.NAT,
		NetGroup:     r.NetGroup,
		Labels:       r.Labels,
		Warm:         r.Warm,
		FromSnapshot: r.FromSnapshot,
	}
}

// apiVMEvent is a VM lifecycle event as a line of an NDJSON stream.
func apiVMEvent(ev vm.Event) api.Event {
	return api.Event{
		Type:   apiEventType(ev.Type),
		Time:   ev.Time,
		OpID:   ev.OpID,
		Kind:   ev.Kind,
		Target: ev.Target,
		Step:   ev.Step,
		Index:  ev.Index,
		Total:  ev.Total,
		State:  apiState(ev.State),
	}
}

func apiEventType(t vm.EventType) string {
	switch t {
	case vm.EventStep:
		return api.EventStep
	case vm.EventVM:
		return api.EventVM
	}
	return string(t)
}

// vmProgress hands a VM operation's events to p as API events; nil when p
// is nil, so the service does no work for a client that does not stream.
func vmProgress(p func(api.Event)) vm.Progress {
	if p == nil {
		return nil
	}
	return func(ev vm.Event) { p(apiVMEvent(ev)) }
}

func apiAgentInfo(a vm.AgentInfo) api.AgentInfo {
	return api.AgentInfo{Version: a.Version, Hostname: a.Hostname, BootTime: a.BootTime, Systemd: a.Systemd}
}

func apiPort(p vm.Port) api.Port {
	return api.Port{Port: p.Port, Address: p.Address, Proto: p.Proto, Endpoint: p.Endpoint}
}

// Images.

func apiImage(img images.Image) api.Image {
	return api.Image{
		ID:         img.ID,
		Name:       img.Name,
		RootFS:     img.RootFS,
		RootFSSize: img.RootFSSize,
		Kernel:     img.Kernel,
		Initrd:     img.Initrd,
		CreatedAt:  img.CreatedAt,
		State:      img.State,
		Source:     img.Source,
		Digest:     img.Digest,
		Config:     apiImageConfig(img.Config),
		Layers:     img.Layers,
		Identity:   img.Identity,
	}
}

func apiImageConfig(c *images.RunConfig) *api.ImageConfig {
	if c == nil {
		return nil
	}
	return &api.ImageConfig{Env: c.Env, WorkingDir: c.WorkingDir, User: c.User, Entrypoint: c.Entrypoint, Cmd: c.Cmd, Init: c.Init}
}

func imagePullRequest(r api.PullImageRequest) images.PullRequest {
	return images.PullRequest{Ref: r.Ref, Name: r.Name, IfMissing: r.IfMissing}
}

func imageRegisterRequest(r api.RegisterImageRequest) images.RegisterRequest {
	return images.RegisterRequest{Name: r.Name, RootFS: r.RootFS, Kernel: r.Kernel, Initrd: r.Initrd}
}

func imageBuildRequest(r api.BuildImageRequest) images.BuildRequest {
	return images.BuildRequest{Name: r.Name, Suite: r.Suite, Packages: r.Packages, Kernel: r.Kernel}
}

// opImageBuild is the operation kind of an image build in progress events.
const opImageBuild = "image.build"

// opImagePull is the operation kind of an image pull in progress events.
const opImagePull = "image.pull"

// apiImageProgress is a report of the build (kind opImageBuild) or pull
// (opImagePull) of image target, run as operation opID, as a step event.
func apiImageProgress(p images.Progress, kind, opID, target string) api.Event {
	return api.Event{
		Type:       api.EventStep,
		OpID:       opID,
		Kind:       kind,
		Target:     target,
		Step:       p.Step,
		Index:      p.Index,
		Total:      p.Total,
		Detail:     p.Detail,
		Fraction:   p.Fraction,
		Current:    p.Current,
		TotalUnits: p.TotalUnits,
		Unit:       p.Unit,
		Bar:        p.Bar,
	}
}

// Kernels.

func apiKernel(k kernels.Kernel) api.Kernel {
	return api.Kernel{
		ID:        k.ID,
		Name:      k.Name,
		Vmlinux:   k.Vmlinux,
		BzImage:   k.BzImage,
		Initrd:    k.Initrd,
		Version:   k.Version,
		Source:    apiKernelSource(k.Source),
		SHA256:    k.SHA256,
		Size:      k.Size,
		CreatedAt: k.CreatedAt,
		Origin:    k.Origin,
		Discovery: k.Discovery,
	}
}

// apiKernelSource is where a kernel came from as the API says it; an
// unknown source is shown as stored.
func apiKernelSource(s kernels.Source) string {
	switch s {
	case kernels.SourceBuilt:
		return api.KernelBuilt
	case kernels.SourceImported:
		return api.KernelImported
	case kernels.SourceDistro:
		return api.KernelDistro
	}
	return string(s)
}

func kernelImportRequest(r api.ImportKernelRequest) kernels.ImportRequest {
	return kernels.ImportRequest{Name: r.Name, Path: r.Path, Initrd: r.Initrd}
}

func kernelFetchRequest(r api.FetchKernelRequest) kernels.FetchRequest {
	return kernels.FetchRequest{Name: r.Name, Package: r.Package}
}

func kernelBuildRequest(r api.BuildKernelRequest) kernels.BuildRequest {
	return kernels.BuildRequest{Name: r.Name, Source: r.Source, Jobs: r.Jobs}
}

func apiKernelProgress(p kernels.Progress) api.Event {
	return api.Event{
		Type:       api.EventStep,
		Time:       p.Time,
		OpID:       p.OpID,
		Kind:       p.Kind,
		Target:     p.Target,
		Step:       p.Step,
		Index:      p.Index,
		Total:      p.Total,
		Detail:     p.Detail,
		Fraction:   p.Fraction,
		Current:    p.Current,
		TotalUnits: p.TotalUnits,
		Unit:       p.Unit,
	}
}

// kernelProgress hands a kernel build's reports to p as API events; nil
// when p is nil.
func kernelProgress(p func(api.Event)) func(kernels.Progress) {
	if p == nil {
		return nil
	}
	return func(kp kernels.Progress) { p(apiKernelProgress(kp)) }
}

// Doctor.

func apiDoctorReport(r doctor.Report) api.DoctorReport {
	return api.DoctorReport{Checks: mapSlice(r.Checks, apiCheck)}
}

func apiCheck(c doctor.Check) api.Check {
	return api.Check{Name: c.Name, Status: apiCheckStatus(c.Status), Detail: c.Detail, Fix: c.Fix}
}

func apiCheckStatus(s doctor.Status) string {
	switch s {
	case doctor.StatusPass:
		return api.CheckPass
	case doctor.StatusWarn:
		return api.CheckWarn
	case doctor.StatusFail:
		return api.CheckFail
	}
	return string(s)
}
