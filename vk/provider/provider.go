// Package provider is banger-vk's virtual-kubelet provider: it runs the
// Pods the Kubernetes scheduler binds to its node as banger VMs, through
// bangerd's API, and reports their status back. One Pod is one VM named
// after the Pod's UID and labelled with it, the node's name and the Pod's
// name; the provider only ever touches VMs that carry its node's label.
package provider

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	vkerrdefs "github.com/virtual-kubelet/virtual-kubelet/errdefs"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	corev1listers "k8s.io/client-go/listers/core/v1"

	"banger/internal/api"
	"banger/internal/errdefs"
)

// Labels banger-vk sets on every VM it creates, and the Pod annotation
// that names an image.
const (
	LabelPodUID     = "banger.dev/pod-uid" // the Pod's UID
	LabelPod        = "banger.dev/pod"     // namespace/name of the Pod
	LabelNode       = "banger.dev/node"    // the node (provider) that owns the VM
	AnnotationImage = "banger.dev/image"   // a banger image name; overrides the container's image
	ContainerName   = "vm"                 // a Pod's container status when it has none of its own
	vmNamePrefix    = "k8s-"               // VM names are the prefix and the Pod UID without dashes
	reasonVMDeleted = "VMDeleted"          // the VM went away behind the provider's back
	reasonVMFailed  = "VMFailed"           // bangerd refused or failed the VM
	reasonLost      = "CommandLost"        // the provider restarted while the command ran
	reasonBadPod    = "UnsupportedPod"     // the Pod asks for something a VM cannot be
	reasonVMStopped = "VMStopped"          // the VM stopped or failed outside the provider
	taintKey        = "virtual-kubelet.io/provider"
)

// Backend is what the provider needs of bangerd (see Client for the real
// one).
type Backend interface {
	Info(ctx context.Context) (api.SystemInfo, error)
	ListVMs(ctx context.Context) ([]api.VM, error)
	CreateVM(ctx context.Context, req api.CreateVMRequest) (api.VM, error)
	DeleteVM(ctx context.Context, ref string) error
	// Run waits for the VM's guest agent and runs argv with env in it,
	// writing its output to out, and returns its exit code.
	Run(ctx context.Context, ref string, argv, env []string, out io.Writer) (int, error)
	// Logs writes the VM's serial console (the last tail lines, 0: all;
	// with follow, until ctx ends or the VM stops).
	Logs(ctx context.Context, ref string, tail int, follow bool, w io.Writer) error
	// Exec runs argv in a running VM with the given stdio and returns its
	// exit code.
	Exec(ctx context.Context, ref string, argv []string, tty bool, stdin io.Reader, stdout, stderr io.Writer) (int, error)
}

// Config sets up a Provider.
type Config struct {
	NodeName string
	Backend  Backend
	// Pods lists the Pods Kubernetes has bound to this node; the
	// convergence pass keeps the VMs of these Pods.
	Pods corev1listers.PodLister
	// Capacity advertised by the node: CPUs, memory and VMs.
	CPUs      int
	MemoryMiB int
	MaxVMs    int
	// Poll is how often bangerd's health and the VMs are checked.
	Poll time.Duration
	// Address and KubeletPort: where the apiserver reaches this node's
	// kubelet API (kubectl logs and exec); port 0 serves none.
	Address     string
	KubeletPort int
}

// Provider implements virtual-kubelet's PodLifecycleHandler, PodNotifier
// and NodeProvider over bangerd.
type Provider struct {
	cfg Config
	// base is the provider's lifetime: each Pod's work runs under it.
	base context.Context
	wg   sync.WaitGroup

	mu        sync.Mutex
	pods      map[string]*entry // by namespace/name
	notify    func(*corev1.Pod)
	nodeCb    func(*corev1.Node)
	node      *corev1.Node
	nodeReady bool
	nodeMsg   string
}

// entry is one Pod the provider runs.
type entry struct {
	pod     *corev1.Pod // the Pod with the status the provider reports
	vm      string
	created bool // the VM exists (it was created or adopted)
	cancel  context.CancelFunc
	done    chan struct{} // closed when the Pod's goroutine returns
}

// New returns a Provider for cfg; NodeSpec then gives the node to register.
func New(cfg Config) (*Provider, error) {
	if cfg.NodeName == "" || cfg.Backend == nil {
		return nil, errors.New("provider: a node name and a bangerd backend are required")
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 5 * time.Second
	}
	p := &Provider{cfg: cfg, pods: map[string]*entry{}, base: context.Background()}
	p.node = p.nodeSpec()
	return p, nil
}

// VMName is the VM that runs the Pod with the given UID.
func VMName(uid types.UID) string {
	return vmNamePrefix + strings.ReplaceAll(string(uid), "-", "")
}

func key(namespace, name string) string { return namespace + "/" + name }

// NotifyPods registers the function that takes status changes.
func (p *Provider) NotifyPods(_ context.Context, cb func(*corev1.Pod)) {
	p.mu.Lock()
	p.notify = cb
	p.mu.Unlock()
}

// CreatePod starts a VM for pod in the background; its status follows
// through NotifyPods. A Pod whose VM exists already (after a restart of
// the provider) adopts it rather than making a second one.
func (p *Provider) CreatePod(_ context.Context, pod *corev1.Pod) error {
	k := key(pod.Namespace, pod.Name)
	p.mu.Lock()
	if e, ok := p.pods[k]; ok && e.pod.UID == pod.UID {
		p.mu.Unlock()
		return nil
	}
	ctx, cancel := context.WithCancel(p.base)
	e := &entry{pod: pod.DeepCopy(), vm: VMName(pod.UID), cancel: cancel, done: make(chan struct{})}
	now := metav1.Now()
	e.pod.Status = corev1.PodStatus{Phase: corev1.PodPending, StartTime: &now, HostIP: pod.Status.HostIP,
		ContainerStatuses: containerStatuses(pod, corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "VMCreating"}}, 0)}
	p.pods[k] = e
	p.wg.Add(1)
	p.mu.Unlock()
	go func() {
		defer p.wg.Done()
		defer close(e.done)
		p.run(ctx, e)
	}()
	return nil
}

// run creates (or adopts) the Pod's VM, reports it Running, runs the
// container's command if it has one and reports its exit.
func (p *Provider) run(ctx context.Context, e *entry) {
	p.push(e) // Pending, the VM being created
	pod := e.snapshot(&p.mu)
	spec, err := vmSpec(pod)
	if err != nil {
		p.finish(e, corev1.PodFailed, reasonBadPod, err.Error(), -1)
		return
	}
	req := api.CreateVMRequest{Name: e.vm, Image: spec.image, VCPUs: spec.vcpus, MemoryMiB: spec.memoryMiB, Start: true,
		Labels: map[string]string{LabelPodUID: string(pod.UID), LabelPod: key(pod.Namespace, pod.Name), LabelNode: p.cfg.NodeName}}
	vm, adopted, err := p.createVM(ctx, req)
	if ctx.Err() != nil {
		return
	}
	if err != nil {
		p.finish(e, corev1.PodFailed, reasonVMFailed, err.Error(), -1)
		return
	}
	p.mu.Lock()
	e.created = true
	now := metav1.Now()
	e.pod.Status.Phase = corev1.PodRunning
	e.pod.Status.PodIP = vm.IP
	if vm.IP != "" {
		e.pod.Status.PodIPs = []corev1.PodIP{{IP: vm.IP}}
	}
	e.pod.Status.Conditions = []corev1.PodCondition{
		{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: now},
		{Type: corev1.PodInitialized, Status: corev1.ConditionTrue, LastTransitionTime: now},
		{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
		{Type: corev1.ContainersReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
	}
	e.pod.Status.ContainerStatuses = containerStatuses(e.pod, corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}, 0)
	for i := range e.pod.Status.ContainerStatuses {
		e.pod.Status.ContainerStatuses[i].Ready = true
		e.pod.Status.ContainerStatuses[i].Started = ptr(true)
	}
	p.mu.Unlock()
	p.push(e)

	if len(spec.argv) == 0 {
		return
	}
	if adopted {
		// The command's connection died with the previous provider, and
		// the agent kills a command whose connection closes.
		p.finish(e, corev1.PodFailed, reasonLost, "banger-vk restarted while the command ran; its exit is unknown", -1)
		return
	}
	code, err := p.cfg.Backend.Run(ctx, e.vm, spec.argv, spec.env, io.Discard)
	if ctx.Err() != nil {
		return
	}
	switch {
	case err != nil && code < 0:
		p.finish(e, corev1.PodFailed, reasonVMFailed, fmt.Sprintf("run the command: %v", err), -1)
	case code == 0:
		p.finish(e, corev1.PodSucceeded, "Completed", "", 0)
	default:
		msg := ""
		if err != nil {
			msg = err.Error()
		}
		p.finish(e, corev1.PodFailed, "Error", msg, code)
	}
}

// createVM creates the VM, retrying while bangerd is unavailable. A VM of
// that name that this node owns for the same Pod is adopted.
func (p *Provider) createVM(ctx context.Context, req api.CreateVMRequest) (api.VM, bool, error) {
	for {
		vm, err := p.cfg.Backend.CreateVM(ctx, req)
		switch {
		case err == nil:
			return vm, false, nil
		case errdefs.KindOf(err) == errdefs.AlreadyExists:
			vms, lerr := p.cfg.Backend.ListVMs(ctx)
			if lerr != nil {
				err = lerr
				break
			}
			for _, v := range vms {
				if v.Name != req.Name {
					continue
				}
				if v.Labels[LabelNode] != p.cfg.NodeName || v.Labels[LabelPodUID] != req.Labels[LabelPodUID] {
					return api.VM{}, false, fmt.Errorf("a VM named %s exists that banger-vk on %s does not own: delete or rename it", req.Name, p.cfg.NodeName)
				}
				return v, true, nil
			}
			continue // deleted in between: create again
		case errdefs.KindOf(err) != errdefs.Unavailable:
			return api.VM{}, false, err
		}
		select {
		case <-ctx.Done():
			return api.VM{}, false, ctx.Err()
		case <-time.After(p.cfg.Poll):
		}
	}
}

// finish gives the Pod a terminal phase. exit < 0 means the command did
// not run to an exit of its own.
func (p *Provider) finish(e *entry, phase corev1.PodPhase, reason, msg string, exit int) {
	p.mu.Lock()
	now := metav1.Now()
	e.pod.Status.Phase = phase
	e.pod.Status.Reason, e.pod.Status.Message = reason, msg
	code := int32(exit)
	if exit < 0 {
		code = 1
	}
	started := now
	for _, cs := range e.pod.Status.ContainerStatuses {
		if cs.State.Running != nil {
			started = cs.State.Running.StartedAt
		}
	}
	e.pod.Status.ContainerStatuses = containerStatuses(e.pod, corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
		ExitCode: code, Reason: reason, Message: msg, StartedAt: started, FinishedAt: now}}, 0)
	for i, c := range e.pod.Status.Conditions {
		if c.Type == corev1.PodReady || c.Type == corev1.ContainersReady {
			e.pod.Status.Conditions[i].Status = corev1.ConditionFalse
			e.pod.Status.Conditions[i].LastTransitionTime = now
		}
	}
	p.mu.Unlock()
	p.push(e)
}

// push sends e's status to virtual-kubelet.
func (p *Provider) push(e *entry) {
	pod := e.snapshot(&p.mu)
	p.mu.Lock()
	cb := p.notify
	p.mu.Unlock()
	if cb != nil {
		cb(pod)
	}
}

func (e *entry) snapshot(mu *sync.Mutex) *corev1.Pod {
	mu.Lock()
	defer mu.Unlock()
	return e.pod.DeepCopy()
}

// UpdatePod keeps the Pod's new metadata; a VM's size and command are
// fixed at create.
func (p *Provider) UpdatePod(_ context.Context, pod *corev1.Pod) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	e, ok := p.pods[key(pod.Namespace, pod.Name)]
	if !ok || e.pod.UID != pod.UID {
		return vkerrdefs.NotFoundf("pod %s/%s is not running on %s", pod.Namespace, pod.Name, p.cfg.NodeName)
	}
	status := e.pod.Status
	e.pod = pod.DeepCopy()
	e.pod.Status = status
	return nil
}

// DeletePod deletes the Pod's VM and reports the Pod terminated.
func (p *Provider) DeletePod(ctx context.Context, pod *corev1.Pod) error {
	k := key(pod.Namespace, pod.Name)
	p.mu.Lock()
	e, ok := p.pods[k]
	p.mu.Unlock()
	if ok {
		e.cancel()
		<-e.done
	}
	if err := p.cfg.Backend.DeleteVM(ctx, VMName(pod.UID)); err != nil && errdefs.KindOf(err) != errdefs.NotFound {
		return fmt.Errorf("delete the VM of pod %s: %w", k, err)
	}
	if !ok {
		return nil
	}
	p.mu.Lock()
	if p.pods[k] == e {
		delete(p.pods, k)
	}
	phase := e.pod.Status.Phase
	p.mu.Unlock()
	if phase == corev1.PodSucceeded || phase == corev1.PodFailed {
		p.push(e)
		return nil
	}
	p.finish(e, corev1.PodSucceeded, "Deleted", "the Pod was deleted", 0)
	return nil
}

// GetPod returns the Pod as the provider runs it.
func (p *Provider) GetPod(_ context.Context, namespace, name string) (*corev1.Pod, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	e, ok := p.pods[key(namespace, name)]
	if !ok {
		return nil, vkerrdefs.NotFoundf("pod %s/%s is not running on %s", namespace, name, p.cfg.NodeName)
	}
	return e.pod.DeepCopy(), nil
}

// GetPodStatus returns the Pod's status.
func (p *Provider) GetPodStatus(ctx context.Context, namespace, name string) (*corev1.PodStatus, error) {
	pod, err := p.GetPod(ctx, namespace, name)
	if err != nil {
		return nil, err
	}
	return &pod.Status, nil
}

// GetPods returns every Pod the provider runs.
func (p *Provider) GetPods(context.Context) ([]*corev1.Pod, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	pods := make([]*corev1.Pod, 0, len(p.pods))
	for _, k := range slices.Sorted(maps.Keys(p.pods)) {
		pods = append(pods, p.pods[k].pod.DeepCopy())
	}
	return pods, nil
}
