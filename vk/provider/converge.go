package provider

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	"banger/internal/api"
	"banger/internal/errdefs"
)

// Converge compares the VMs this node owns with the Pods: a VM whose Pod
// is gone (deleted while the provider was down) is deleted, and a Pod
// whose VM is gone or stopped fails with the reason. VMs without this
// node's label are never touched.
func (p *Provider) Converge(ctx context.Context) error {
	vms, err := p.cfg.Backend.ListVMs(ctx)
	if err != nil {
		return err
	}
	live := map[string]bool{}
	if p.cfg.Pods != nil {
		pods, err := p.cfg.Pods.List(labels.Everything())
		if err != nil {
			return fmt.Errorf("list the node's pods: %w", err)
		}
		for _, pod := range pods {
			if pod.Spec.NodeName == p.cfg.NodeName {
				live[string(pod.UID)] = true
			}
		}
	}
	p.mu.Lock()
	for _, e := range p.pods {
		live[string(e.pod.UID)] = true
	}
	entries := slices.Collect(maps.Values(p.pods))
	p.mu.Unlock()

	byName := map[string]api.VM{}
	var errs []error
	for _, vm := range vms {
		if vm.Labels[LabelNode] != p.cfg.NodeName || vm.Labels[LabelPodUID] == "" {
			continue
		}
		byName[vm.Name] = vm
		if !live[vm.Labels[LabelPodUID]] {
			if err := p.cfg.Backend.DeleteVM(ctx, vm.Name); err != nil && errdefs.KindOf(err) != errdefs.NotFound {
				errs = append(errs, fmt.Errorf("delete VM %s of the deleted pod %s: %w", vm.Name, vm.Labels[LabelPod], err))
			}
		}
	}
	for _, e := range entries {
		p.mu.Lock()
		running := e.created && e.pod.Status.Phase == corev1.PodRunning
		p.mu.Unlock()
		if !running {
			continue
		}
		vm, ok := byName[e.vm]
		switch {
		case !ok:
			e.cancel()
			<-e.done
			p.finish(e, corev1.PodFailed, reasonVMDeleted, fmt.Sprintf("the VM %s was deleted outside banger-vk", e.vm), -1)
		case vm.State == api.StateStopped || vm.State == api.StateError:
			e.cancel()
			<-e.done
			msg := fmt.Sprintf("the VM %s is %s", e.vm, vm.State)
			if vm.LastError != "" {
				msg += ": " + vm.LastError
			}
			p.finish(e, corev1.PodFailed, reasonVMStopped, msg, -1)
		}
	}
	return errors.Join(errs...)
}
