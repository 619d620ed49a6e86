package provider

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	vkapi "github.com/virtual-kubelet/virtual-kubelet/node/api"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	utilexec "k8s.io/utils/exec"

	"banger/internal/api"
	"banger/internal/errdefs"
)

// fakeBangerd is a stateful stand-in for bangerd: VMs by name, a command
// table (argv[0] -> exit code) and a switch that makes it stop answering.
type fakeBangerd struct {
	mu      sync.Mutex
	vms     map[string]api.VM
	exits   map[string]int
	down    bool
	creates int
	runs    chan struct{} // closed to let Run return; nil returns at once
	nextIP  int
}

func newFake() *fakeBangerd {
	return &fakeBangerd{vms: map[string]api.VM{}, exits: map[string]int{}}
}

func (f *fakeBangerd) unavailable() error {
	if f.down {
		return errdefs.Unavailablef("cannot reach bangerd")
	}
	return nil
}

func (f *fakeBangerd) Info(context.Context) (api.SystemInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return api.SystemInfo{VMs: len(f.vms)}, f.unavailable()
}

func (f *fakeBangerd) ListVMs(context.Context) ([]api.VM, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.unavailable(); err != nil {
		return nil, err
	}
	var out []api.VM
	for _, v := range f.vms {
		out = append(out, v)
	}
	return out, nil
}

func (f *fakeBangerd) CreateVM(_ context.Context, req api.CreateVMRequest) (api.VM, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.unavailable(); err != nil {
		return api.VM{}, err
	}
	if _, ok := f.vms[req.Name]; ok {
		return api.VM{}, errdefs.AlreadyExistsf("a VM named %q already exists", req.Name)
	}
	if req.Image != "default" {
		return api.VM{}, errdefs.NotFoundf("no image named %q", req.Image)
	}
	f.creates++
	f.nextIP++
	v := api.VM{Name: req.Name, State: api.StateRunning, Image: req.Image, VCPUs: req.VCPUs, MemoryMiB: req.MemoryMiB,
		IP: fmt.Sprintf("172.16.0.%d", f.nextIP), Labels: req.Labels}
	f.vms[req.Name] = v
	return v, nil
}

func (f *fakeBangerd) DeleteVM(_ context.Context, ref string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.unavailable(); err != nil {
		return err
	}
	if _, ok := f.vms[ref]; !ok {
		return errdefs.NotFoundf("no VM named %q", ref)
	}
	delete(f.vms, ref)
	return nil
}

func (f *fakeBangerd) Run(ctx context.Context, ref string, argv, env []string, _ io.Writer) (int, error) {
	f.mu.Lock()
	code, ok := f.exits[argv[0]]
	wait := f.runs
	f.mu.Unlock()
	if wait != nil {
		select {
		case <-wait:
		case <-ctx.Done():
			return -1, ctx.Err()
		}
	}
	if !ok {
		return 127, fmt.Errorf("%s: command not found", argv[0])
	}
	return code, nil
}

func (f *fakeBangerd) Logs(_ context.Context, ref string, _ int, _ bool, w io.Writer) error {
	f.mu.Lock()
	_, ok := f.vms[ref]
	f.mu.Unlock()
	if !ok {
		return errdefs.NotFoundf("no VM named %q", ref)
	}
	_, err := fmt.Fprintf(w, "console of %s\n", ref)
	return err
}

func (f *fakeBangerd) Exec(ctx context.Context, ref string, argv []string, _ bool, _ io.Reader, stdout, _ io.Writer) (int, error) {
	fmt.Fprintf(stdout, "ran %s in %s\n", strings.Join(argv, " "), ref)
	return f.Run(ctx, ref, argv, nil, stdout)
}

// harness runs a Provider on a fake and records what it notifies.
type harness struct {
	t    *testing.T
	f    *fakeBangerd
	p    *Provider
	mu   sync.Mutex
	last map[string]*corev1.Pod
}

func newHarness(t *testing.T, f *fakeBangerd) *harness {
	t.Helper()
	p, err := New(Config{NodeName: "n1", Backend: f, CPUs: 4, MemoryMiB: 4096, MaxVMs: 8, Poll: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, f: f, p: p, last: map[string]*corev1.Pod{}}
	p.NotifyPods(context.Background(), func(pod *corev1.Pod) {
		h.mu.Lock()
		h.last[pod.Name] = pod
		h.mu.Unlock()
	})
	return h
}

// waitPhase waits for the Pod's notified phase; it fails after 10 s (a
// hang), never on timing otherwise.
func (h *harness) waitPhase(name string, phase corev1.PodPhase) *corev1.Pod {
	h.t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		h.mu.Lock()
		pod := h.last[name]
		h.mu.Unlock()
		if pod != nil && pod.Status.Phase == phase {
			return pod
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.t.Fatalf("pod %s never reached %s; last status %+v", name, phase, h.last[name])
	return nil
}

func testPod(name string, cmd ...string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("0000-" + name)},
		Spec: corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{
			Name: "main", Image: "default", Command: cmd,
			Env: []corev1.EnvVar{{Name: "A", Value: "1"}},
			Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1500m"), corev1.ResourceMemory: resource.MustParse("200Mi")},
				Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("300M")},
			},
		}}},
	}
}

func TestPodRunsAsVM(t *testing.T) {
	h := newHarness(t, newFake())
	pod := testPod("web")
	if err := h.p.CreatePod(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	got := h.waitPhase("web", corev1.PodRunning)
	vm := h.f.vms[VMName(pod.UID)]
	if got.Status.PodIP == "" || got.Status.PodIP != vm.IP {
		t.Errorf("pod IP %q, VM IP %q", got.Status.PodIP, vm.IP)
	}
	want := api.VM{Name: "k8s-0000web", State: api.StateRunning, Image: "default", VCPUs: 2, MemoryMiB: 287, IP: vm.IP,
		Labels: map[string]string{LabelPodUID: "0000-web", LabelPod: "default/web", LabelNode: "n1"}}
	if diff := cmp.Diff(want, vm); diff != "" {
		t.Errorf("VM (-want +got):\n%s", diff)
	}
	// Creating again (virtual-kubelet retries) makes no second VM.
	if err := h.p.CreatePod(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	if err := h.p.DeletePod(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	if len(h.f.vms) != 0 || h.f.creates != 1 {
		t.Errorf("after delete: %d VMs, %d creates; want 0, 1", len(h.f.vms), h.f.creates)
	}
	if _, err := h.p.GetPod(context.Background(), "default", "web"); err == nil {
		t.Error("GetPod finds the deleted pod")
	}
}

func TestCommandExitDecidesPhase(t *testing.T) {
	f := newFake()
	f.exits["fail"], f.exits["ok"] = 3, 0
	h := newHarness(t, f)
	for _, pod := range []*corev1.Pod{testPod("bad", "fail", "x"), testPod("good", "ok"), testPod("missing", "nope")} {
		if err := h.p.CreatePod(context.Background(), pod); err != nil {
			t.Fatal(err)
		}
	}
	for name, want := range map[string]struct {
		phase corev1.PodPhase
		code  int32
	}{"bad": {corev1.PodFailed, 3}, "good": {corev1.PodSucceeded, 0}, "missing": {corev1.PodFailed, 127}} {
		got := h.waitPhase(name, want.phase)
		term := got.Status.ContainerStatuses[0].State.Terminated
		if term == nil || term.ExitCode != want.code {
			t.Errorf("%s: container state %+v, want exit %d", name, got.Status.ContainerStatuses[0].State, want.code)
		}
	}
}

func TestBadPodFails(t *testing.T) {
	h := newHarness(t, newFake())
	pod := testPod("two")
	pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: "b", Image: "default"})
	img := testPod("img")
	img.Annotations = map[string]string{AnnotationImage: "nosuch"}
	for _, p := range []*corev1.Pod{pod, img} {
		if err := h.p.CreatePod(context.Background(), p); err != nil {
			t.Fatal(err)
		}
	}
	if got := h.waitPhase("two", corev1.PodFailed); got.Status.Reason != reasonBadPod {
		t.Errorf("two containers: reason %q", got.Status.Reason)
	}
	if got := h.waitPhase("img", corev1.PodFailed); got.Status.Reason != reasonVMFailed || !strings.Contains(got.Status.Message, "nosuch") {
		t.Errorf("unknown image: reason %q, message %q", got.Status.Reason, got.Status.Message)
	}
	if len(h.f.vms) != 0 {
		t.Errorf("%d VMs left", len(h.f.vms))
	}
}

// TestConverge: a VM deleted behind the provider's back fails its Pod; a
// VM of a Pod the provider no longer knows is deleted; VMs of other nodes
// and VMs without labels are left alone; a restarted provider adopts the
// VM of a Pod it is given again instead of making a second one.
func TestConverge(t *testing.T) {
	f := newFake()
	h := newHarness(t, f)
	ctx := context.Background()
	a, b := testPod("a"), testPod("b")
	for _, p := range []*corev1.Pod{a, b} {
		if err := h.p.CreatePod(ctx, p); err != nil {
			t.Fatal(err)
		}
		h.waitPhase(p.Name, corev1.PodRunning)
	}
	f.vms["other-node"] = api.VM{Name: "other-node", Labels: map[string]string{LabelNode: "n2", LabelPodUID: "x"}}
	f.vms["k8s-0000orphan"] = api.VM{Name: "k8s-0000orphan", Labels: map[string]string{LabelNode: "n1", LabelPodUID: "0000-orphan"}}
	f.vms["mine"] = api.VM{Name: "mine"}
	delete(f.vms, VMName(a.UID))

	if err := h.p.Converge(ctx); err != nil {
		t.Fatal(err)
	}
	got := h.waitPhase("a", corev1.PodFailed)
	if got.Status.Reason != reasonVMDeleted {
		t.Errorf("pod a: reason %q, want %q", got.Status.Reason, reasonVMDeleted)
	}
	for _, name := range []string{"other-node", "mine", VMName(b.UID)} {
		if _, ok := f.vms[name]; !ok {
			t.Errorf("VM %s was deleted", name)
		}
	}
	if _, ok := f.vms["k8s-0000orphan"]; ok {
		t.Error("the VM of a pod that is gone was kept")
	}

	// A new provider (after a restart) is given pod b again: it adopts.
	h2 := newHarness(t, f)
	if err := h2.p.CreatePod(ctx, b); err != nil {
		t.Fatal(err)
	}
	h2.waitPhase("b", corev1.PodRunning)
	if f.creates != 2 {
		t.Errorf("%d creates, want 2 (no duplicate on restart)", f.creates)
	}
}

func TestNodeReadyFollowsBangerd(t *testing.T) {
	f := newFake()
	h := newHarness(t, f)
	var mu sync.Mutex
	var nodes []*corev1.Node
	h.p.NotifyNodeStatus(context.Background(), func(n *corev1.Node) {
		mu.Lock()
		nodes = append(nodes, n)
		mu.Unlock()
	})
	ready := func() corev1.ConditionStatus {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range nodes[len(nodes)-1].Status.Conditions {
			if c.Type == corev1.NodeReady {
				return c.Status
			}
		}
		return ""
	}
	h.p.checkNode(context.Background())
	if got := ready(); got != corev1.ConditionTrue {
		t.Errorf("bangerd up: Ready = %s", got)
	}
	f.mu.Lock()
	f.down = true
	f.mu.Unlock()
	h.p.checkNode(context.Background())
	if got := ready(); got != corev1.ConditionFalse {
		t.Errorf("bangerd down: Ready = %s", got)
	}
	n := h.p.Node()
	if len(n.Spec.Taints) != 1 || n.Spec.Taints[0].Key != taintKey || n.Status.Capacity.Pods().Value() != 8 || n.Status.Capacity.Cpu().Value() != 4 {
		t.Errorf("node taints %v, capacity %v", n.Spec.Taints, n.Status.Capacity)
	}
}

type testAttach struct{ out *strings.Builder }

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

func (a testAttach) Stdin() io.Reader              { return nil }
func (a testAttach) Stdout() io.WriteCloser        { return nopCloser{a.out} }
func (a testAttach) Stderr() io.WriteCloser        { return nil }
func (a testAttach) TTY() bool                     { return false }
func (a testAttach) Resize() <-chan vkapi.TermSize { return nil }

// TestLogsAndExec: kubectl logs reads the VM's console and kubectl exec
// runs in the VM, a non-zero exit coming back as the exit code.
func TestLogsAndExec(t *testing.T) {
	f := newFake()
	f.exits["false"] = 3
	h := newHarness(t, f)
	ctx := context.Background()
	if _, err := h.p.GetContainerLogs(ctx, "default", "web", "main", vkapi.ContainerLogOpts{}); err == nil {
		t.Error("logs of a pod that does not exist")
	}
	if err := h.p.CreatePod(ctx, testPod("web")); err != nil {
		t.Fatal(err)
	}
	h.waitPhase("web", corev1.PodRunning)
	rc, err := h.p.GetContainerLogs(ctx, "default", "web", "main", vkapi.ContainerLogOpts{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(rc)
	if err != nil || string(b) != "console of k8s-0000web\n" {
		t.Errorf("logs %q, %v", b, err)
	}
	var out strings.Builder
	err = h.p.RunInContainer(ctx, "default", "web", "main", []string{"false"}, testAttach{&out})
	var ee utilexec.ExitError
	if !errors.As(err, &ee) || ee.ExitStatus() != 3 {
		t.Errorf("exec false: %v, want exit status 3", err)
	}
	if out.String() != "ran false in k8s-0000web\n" {
		t.Errorf("exec output %q", out.String())
	}
}
