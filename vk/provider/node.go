package provider

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// nodeSpec is the node this provider registers: capacity from the config,
// the banger taint, and Ready until the first check says otherwise.
func (p *Provider) nodeSpec() *corev1.Node {
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:    *resource.NewQuantity(int64(p.cfg.CPUs), resource.DecimalSI),
		corev1.ResourceMemory: *resource.NewQuantity(int64(p.cfg.MemoryMiB)<<20, resource.BinarySI),
		corev1.ResourcePods:   *resource.NewQuantity(int64(p.cfg.MaxVMs), resource.DecimalSI),
	}
	now := metav1.Now()
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: p.cfg.NodeName,
			Labels: map[string]string{
				"type":                   "virtual-kubelet",
				"kubernetes.io/role":     "agent",
				"kubernetes.io/hostname": p.cfg.NodeName,
				"kubernetes.io/os":       "linux",
			},
		},
		Spec: corev1.NodeSpec{
			Taints: []corev1.Taint{{Key: taintKey, Value: "banger", Effect: corev1.TaintEffectNoSchedule}},
		},
		Status: corev1.NodeStatus{
			Phase:       corev1.NodeRunning,
			Capacity:    capacity,
			Allocatable: capacity.DeepCopy(),
			Conditions: []corev1.NodeCondition{
				p.readyCondition(true, "bangerd answers", now),
				{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse, LastHeartbeatTime: now, LastTransitionTime: now, Reason: "KubeletHasSufficientMemory"},
				{Type: corev1.NodeDiskPressure, Status: corev1.ConditionFalse, LastHeartbeatTime: now, LastTransitionTime: now, Reason: "KubeletHasNoDiskPressure"},
				{Type: corev1.NodePIDPressure, Status: corev1.ConditionFalse, LastHeartbeatTime: now, LastTransitionTime: now, Reason: "KubeletHasSufficientPID"},
				{Type: corev1.NodeNetworkUnavailable, Status: corev1.ConditionFalse, LastHeartbeatTime: now, LastTransitionTime: now, Reason: "RouteCreated"},
			},
			NodeInfo: corev1.NodeSystemInfo{OperatingSystem: "linux", Architecture: "amd64", KubeletVersion: "banger-vk"},
		},
	}
	if p.cfg.Address != "" {
		n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: p.cfg.Address}}
	}
	n.Status.DaemonEndpoints.KubeletEndpoint.Port = int32(p.cfg.KubeletPort)
	return n
}

func (p *Provider) readyCondition(ready bool, msg string, now metav1.Time) corev1.NodeCondition {
	c := corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "BangerdReady", Message: msg, LastHeartbeatTime: now, LastTransitionTime: now}
	if !ready {
		c.Status, c.Reason = corev1.ConditionFalse, "BangerdUnavailable"
	}
	return c
}

// Node returns the node to register.
func (p *Provider) Node() *corev1.Node {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.node.DeepCopy()
}

// Ping answers the node controller's heartbeat: the lease is renewed while
// the provider runs, and readiness is the Ready condition, which follows
// bangerd (see Watch).
func (p *Provider) Ping(ctx context.Context) error { return ctx.Err() }

// NotifyNodeStatus registers the function that takes node changes.
func (p *Provider) NotifyNodeStatus(_ context.Context, cb func(*corev1.Node)) {
	p.mu.Lock()
	p.nodeCb = cb
	p.mu.Unlock()
}

// checkNode asks bangerd whether it answers and reports the node Ready or
// NotReady when that changes.
func (p *Provider) checkNode(ctx context.Context) {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err := p.cfg.Backend.Info(cctx)
	ready, msg := err == nil, "bangerd answers"
	if err != nil {
		msg = fmt.Sprintf("bangerd does not answer: %v", err)
	}
	p.mu.Lock()
	if ready == p.nodeReady && p.nodeMsg != "" {
		p.mu.Unlock()
		return
	}
	p.nodeReady, p.nodeMsg = ready, msg
	now := metav1.Now()
	for i, c := range p.node.Status.Conditions {
		if c.Type == corev1.NodeReady {
			p.node.Status.Conditions[i] = p.readyCondition(ready, msg, now)
		}
	}
	node, cb := p.node.DeepCopy(), p.nodeCb
	p.mu.Unlock()
	if cb != nil {
		cb(node)
	}
}

// Watch checks bangerd and converges the VMs every Poll until ctx ends.
// It runs once the pod controller has synced the node's Pods.
func (p *Provider) Watch(ctx context.Context, logf func(format string, args ...any)) {
	t := time.NewTicker(p.cfg.Poll)
	defer t.Stop()
	for {
		p.checkNode(ctx)
		if err := p.Converge(ctx); err != nil && ctx.Err() == nil {
			logf("converge: %v", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
