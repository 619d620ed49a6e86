package provider

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/remotecommand"

	"banger/internal/api"
	"banger/internal/imagebuild/imagetest"
	"banger/internal/kernelbuild/kerneltest"
	"banger/internal/testtier"
)

// runningProvider is banger-vk's Run in the test process, stoppable.
type runningProvider struct {
	cancel context.CancelFunc
	done   chan error
}

func startProvider(t testing.TB, c *cluster, d *bangerd, node string, cpus, memMiB, maxVMs int) *runningProvider {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	rp := &runningProvider{cancel: cancel, done: make(chan error, 1)}
	ready := make(chan struct{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		rp.done <- Run(ctx, Options{
			Config: Config{NodeName: node, Backend: NewClient(d.client.Socket), CPUs: cpus, MemoryMiB: memMiB, MaxVMs: maxVMs,
				Poll: 300 * time.Millisecond, Address: "127.0.0.1", KubeletPort: ln.Addr().(*net.TCPAddr).Port},
			Kube:            c.kube,
			Logf:            t.Logf,
			Ready:           func() { close(ready) },
			KubeletListener: ln,
		})
	}()
	select {
	case <-ready:
	case err := <-rp.done:
		t.Fatalf("provider %s exited: %v", node, err)
	case <-time.After(time.Minute):
		t.Fatalf("provider %s not ready after a minute", node)
	}
	t.Cleanup(rp.stop)
	return rp
}

func (rp *runningProvider) stop() {
	if rp.cancel == nil {
		return
	}
	rp.cancel()
	<-rp.done
	rp.cancel = nil
}

func bangerPod(name, node string, cpu string, cmd ...string) *corev1.Pod {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: corev1.PodSpec{
			NodeName:    node,
			Tolerations: []corev1.Toleration{{Key: taintKey, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}},
			Containers: []corev1.Container{{Name: "main", Image: "default", Command: cmd,
				Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
					corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse("128Mi")}}}},
		},
	}
	return pod
}

func createPod(t testing.TB, c *cluster, pod *corev1.Pod) *corev1.Pod {
	t.Helper()
	got, err := c.kube.CoreV1().Pods("default").Create(context.Background(), pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create pod %s: %v", pod.Name, err)
	}
	return got
}

func getPod(c *cluster, name string) (*corev1.Pod, error) {
	return c.kube.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
}

func waitPod(t testing.TB, c *cluster, name string, phase corev1.PodPhase) *corev1.Pod {
	t.Helper()
	var pod *corev1.Pod
	eventually(t, time.Minute, fmt.Sprintf("pod %s is %s", name, phase), func() error {
		var err error
		if pod, err = getPod(c, name); err != nil {
			return err
		}
		if pod.Status.Phase != phase {
			return fmt.Errorf("phase %s (%s: %s)", pod.Status.Phase, pod.Status.Reason, pod.Status.Message)
		}
		return nil
	})
	return pod
}

func vmOf(d *bangerd, pod *corev1.Pod) (api.VM, error) {
	return d.client.GetVM(context.Background(), VMName(pod.UID))
}

func countVMs(t testing.TB, d *bangerd) int {
	t.Helper()
	vms, err := d.client.ListVMs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return len(vms)
}

func nodeReady(c *cluster, name string) (corev1.ConditionStatus, error) {
	n, err := c.kube.CoreV1().Nodes().Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		return "", err
	}
	for _, cond := range n.Status.Conditions {
		if cond.Type == corev1.NodeReady {
			return cond.Status, nil
		}
	}
	return "", fmt.Errorf("node %s has no Ready condition", name)
}

// TestKubernetesPodLifecycle: a real apiserver, banger-vk and a real
// bangerd with the fake Firecracker. A Pod becomes a running VM and a
// Running Pod with the VM's address; deleting the Pod deletes the VM; and
// the fault cases converge: a VM deleted behind the provider's back fails
// its Pod, a Pod deleted while the provider is down has its VM deleted
// when it returns, a provider restarted with Pods running makes no second
// VM, the node is NotReady while bangerd is down, and a Pod created then
// and whose provider is killed mid-create gets exactly one VM.
func TestKubernetesPodLifecycle(t *testing.T) {
	needCluster(t)
	c := startCluster(t, false)
	d := startBangerd(t)
	rp := startProvider(t, c, d, "banger-a", 4, 4096, 10)
	ctx := context.Background()

	// A Pod becomes a VM, Running with the VM's address.
	web := createPod(t, c, bangerPod("web", "banger-a", "1"))
	got := waitPod(t, c, "web", corev1.PodRunning)
	vm, err := vmOf(d, web)
	if err != nil {
		t.Fatalf("the VM of pod web: %v", err)
	}
	if vm.State != api.StateRunning || got.Status.PodIP != vm.IP || vm.Labels[LabelPodUID] != string(web.UID) || vm.VCPUs != 1 || vm.MemoryMiB != 128 {
		t.Errorf("VM %+v for pod IP %q", vm, got.Status.PodIP)
	}

	// kubectl logs: the VM's console, through the apiserver and the
	// kubelet API.
	eventually(t, time.Minute, "kubectl logs web shows the console", func() error {
		b, err := c.kube.CoreV1().Pods("default").GetLogs("web", &corev1.PodLogOptions{}).DoRaw(ctx)
		if err != nil {
			return err
		}
		if !strings.Contains(string(b), "fake guest") && !strings.Contains(string(b), "Linux version") {
			return fmt.Errorf("logs %q do not show the console", b)
		}
		return nil
	})

	// Deleting the Pod deletes the VM.
	if err := c.kube.CoreV1().Pods("default").Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Minute, "pod web and its VM are gone", func() error {
		if _, err := getPod(c, "web"); !apierrors.IsNotFound(err) {
			return fmt.Errorf("pod: %v", err)
		}
		if _, err := vmOf(d, web); err == nil {
			return fmt.Errorf("the VM still exists")
		}
		return nil
	})

	// A VM deleted behind the provider's back fails its Pod.
	gone := createPod(t, c, bangerPod("gone", "banger-a", "1"))
	waitPod(t, c, "gone", corev1.PodRunning)
	if err := d.client.DeleteVM(ctx, VMName(gone.UID), nil); err != nil {
		t.Fatal(err)
	}
	if p := waitPod(t, c, "gone", corev1.PodFailed); p.Status.Reason != reasonVMDeleted {
		t.Errorf("pod gone: reason %q, want %q", p.Status.Reason, reasonVMDeleted)
	}

	// A VM the provider does not own is never touched.
	if _, err := d.client.CreateVM(ctx, api.CreateVMRequest{Name: "k8s-notmine", Start: true}, nil); err != nil {
		t.Fatal(err)
	}

	// Provider down: a Pod deleted meanwhile has its VM deleted when it
	// comes back; a Pod still there keeps its one VM.
	keep := createPod(t, c, bangerPod("keep", "banger-a", "1"))
	drop := createPod(t, c, bangerPod("drop", "banger-a", "1"))
	waitPod(t, c, "keep", corev1.PodRunning)
	waitPod(t, c, "drop", corev1.PodRunning)
	rp.stop()
	zero := int64(0)
	if err := c.kube.CoreV1().Pods("default").Delete(ctx, "drop", metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Fatal(err)
	}
	before := countVMs(t, d)
	rp2 := startProvider(t, c, d, "banger-a", 4, 4096, 10)
	eventually(t, time.Minute, "the VM of the deleted pod drop is deleted", func() error {
		if _, err := vmOf(d, drop); err == nil {
			return fmt.Errorf("it still exists")
		}
		return nil
	})
	waitPod(t, c, "keep", corev1.PodRunning)
	if _, err := vmOf(d, keep); err != nil {
		t.Errorf("the VM of pod keep: %v", err)
	}
	if n := countVMs(t, d); n != before-1 {
		t.Errorf("%d VMs after the restart, want %d (drop's deleted, no duplicates)", n, before-1)
	}
	if _, err := d.client.GetVM(ctx, "k8s-notmine"); err != nil {
		t.Errorf("a VM the provider does not own: %v", err)
	}

	// bangerd down: the node goes NotReady; back: Ready, the Pod still
	// Running on its VM.
	d.kill()
	eventually(t, time.Minute, "node banger-a is NotReady", func() error {
		if s, err := nodeReady(c, "banger-a"); err != nil || s != corev1.ConditionFalse {
			return fmt.Errorf("Ready = %s, %v", s, err)
		}
		return nil
	})
	// A Pod created while bangerd is down waits; the provider is killed
	// mid-create and restarted once bangerd is back: one VM, Running.
	late := createPod(t, c, bangerPod("late", "banger-a", "1"))
	eventually(t, time.Minute, "pod late is seen by the provider", func() error {
		p, err := getPod(c, "late")
		if err != nil {
			return err
		}
		if len(p.Status.ContainerStatuses) == 0 || p.Status.ContainerStatuses[0].State.Waiting == nil {
			return fmt.Errorf("container statuses %v", p.Status.ContainerStatuses)
		}
		return nil
	})
	rp2.stop()
	d.start()
	startProvider(t, c, d, "banger-a", 4, 4096, 10)
	eventually(t, time.Minute, "node banger-a is Ready", func() error {
		if s, err := nodeReady(c, "banger-a"); err != nil || s != corev1.ConditionTrue {
			return fmt.Errorf("Ready = %s, %v", s, err)
		}
		return nil
	})
	waitPod(t, c, "keep", corev1.PodRunning)
	if v, err := vmOf(d, keep); err != nil || v.State != api.StateRunning {
		t.Errorf("the VM of pod keep after bangerd's restart: %+v, %v", v, err)
	}
	waitPod(t, c, "late", corev1.PodRunning)
	if _, err := vmOf(d, late); err != nil {
		t.Errorf("the VM of pod late: %v", err)
	}
	if n := countVMs(t, d); n != before {
		t.Errorf("%d VMs at the end, want %d (keep, late, notmine: no duplicates)", n, before)
	}
}

// TestKubernetesScheduling: two nodes backed by two bangerd, placed by the
// real kube-scheduler (MostAllocated scoring): Pods fill one node's CPUs
// before the next goes to the other, and a Pod larger than any node stays
// Pending with the scheduler's reason.
func TestKubernetesScheduling(t *testing.T) {
	needCluster(t)
	c := startCluster(t, true)
	da, db := startBangerd(t), startBangerd(t)
	startProvider(t, c, da, "banger-a", 2, 4096, 10)
	startProvider(t, c, db, "banger-b", 2, 4096, 10)

	nodeOf := map[string]string{}
	for i := range 4 {
		name := fmt.Sprintf("p%d", i)
		createPod(t, c, bangerPod(name, "", "1"))
		p := waitPod(t, c, name, corev1.PodRunning)
		nodeOf[name] = p.Spec.NodeName
	}
	if nodeOf["p0"] != nodeOf["p1"] || nodeOf["p2"] != nodeOf["p3"] || nodeOf["p0"] == nodeOf["p2"] {
		t.Errorf("placement %v: want p0, p1 on one node and p2, p3 on the other", nodeOf)
	}
	if na, nb := countVMs(t, da), countVMs(t, db); na != 2 || nb != 2 {
		t.Errorf("VMs: %d on a, %d on b; want 2 and 2", na, nb)
	}

	createPod(t, c, bangerPod("huge", "", "64"))
	eventually(t, time.Minute, "pod huge is unschedulable", func() error {
		p, err := getPod(c, "huge")
		if err != nil {
			return err
		}
		for _, cond := range p.Status.Conditions {
			if cond.Type == corev1.PodScheduled && cond.Status == corev1.ConditionFalse && cond.Reason == corev1.PodReasonUnschedulable {
				if !strings.Contains(cond.Message, "Insufficient cpu") {
					return fmt.Errorf("unschedulable for another reason: %s", cond.Message)
				}
				return nil
			}
		}
		return fmt.Errorf("phase %s, conditions %v", p.Status.Phase, p.Status.Conditions)
	})
	if p, _ := getPod(c, "huge"); p.Status.Phase != corev1.PodPending || p.Spec.NodeName != "" {
		t.Errorf("pod huge: phase %s on %q", p.Status.Phase, p.Spec.NodeName)
	}
}

// TestKubernetesPodIP: with banger's networking on (bangerd in a network
// namespace of its own), a Running Pod's IP is its VM's leased address.
func TestKubernetesPodIP(t *testing.T) {
	needCluster(t)
	c := startCluster(t, false)
	d := startBangerdNet(t, true)
	startProvider(t, c, d, "banger-n", 4, 4096, 10)
	pod := createPod(t, c, bangerPod("net", "banger-n", "1"))
	got := waitPod(t, c, "net", corev1.PodRunning)
	vm, err := vmOf(d, pod)
	if err != nil {
		t.Fatal(err)
	}
	if vm.IP == "" || got.Status.PodIP != vm.IP || len(got.Status.PodIPs) != 1 || got.Status.PodIPs[0].IP != vm.IP {
		t.Errorf("pod IP %q (%v), VM IP %q: want the VM's address", got.Status.PodIP, got.Status.PodIPs, vm.IP)
	}
}

// TestKubernetesGuestCommand boots real guests (qemu): a Pod's command
// runs in its VM with the Pod's env, and its exit decides the phase: exit
// 3 ends Failed with exit code 3 on the container, exit 0 Succeeded.
func TestKubernetesGuestCommand(t *testing.T) {
	testtier.Guest(t)
	needCluster(t)
	img := guestImageOf(t)
	c := startCluster(t, false)
	d := startBangerdWith(t, true, img)
	startProvider(t, c, d, "banger-g", 4, 4096, 10)
	three := bangerPod("three", "banger-g", "1", "sh", "-c", "exit 3")
	env := bangerPod("env", "banger-g", "1", "sh", "-c", `test "$GREETING" = hello`)
	env.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "GREETING", Value: "hello"}}
	for _, p := range []*corev1.Pod{three, env} {
		p.Spec.Containers[0].Resources.Requests[corev1.ResourceMemory] = resource.MustParse("512Mi")
		createPod(t, c, p)
	}
	waitGuest := func(name string, phase corev1.PodPhase) *corev1.Pod {
		t.Helper()
		var pod *corev1.Pod
		eventually(t, 5*time.Minute, fmt.Sprintf("pod %s is %s", name, phase), func() error {
			var err error
			if pod, err = getPod(c, name); err != nil {
				return err
			}
			if pod.Status.Phase != phase {
				return fmt.Errorf("phase %s (%s: %s)", pod.Status.Phase, pod.Status.Reason, pod.Status.Message)
			}
			return nil
		})
		return pod
	}
	p := waitGuest("three", corev1.PodFailed)
	if term := p.Status.ContainerStatuses[0].State.Terminated; term == nil || term.ExitCode != 3 {
		t.Errorf("pod three: container state %+v, want terminated with exit code 3", p.Status.ContainerStatuses[0].State)
	}
	p = waitGuest("env", corev1.PodSucceeded)
	if term := p.Status.ContainerStatuses[0].State.Terminated; term == nil || term.ExitCode != 0 {
		t.Errorf("pod env: container state %+v, want terminated with exit code 0", p.Status.ContainerStatuses[0].State)
	}

	// kubectl exec, through the apiserver and the kubelet API, to the
	// guest agent of a Pod that runs until deleted: output and exit code.
	createPod(t, c, bangerPod("shell", "banger-g", "1"))
	waitGuest("shell", corev1.PodRunning)
	var out strings.Builder
	var code int
	eventually(t, 5*time.Minute, "kubectl exec shell runs in the guest", func() error {
		out.Reset()
		var err error
		code, err = kubectlExec(c, "shell", &out, "sh", "-c", "uname -s; exit 5")
		if code < 0 {
			return err
		}
		return nil
	})
	if code != 5 || out.String() != "Linux\n" {
		t.Errorf("kubectl exec: exit %d, output %q; want 5, \"Linux\\n\"", code, out.String())
	}
}

// kubectlExec runs argv in the pod as kubectl exec does (SPDY through the
// apiserver) and returns its exit code, -1 with the error when it did not
// run to an exit.
func kubectlExec(c *cluster, pod string, out io.Writer, argv ...string) (int, error) {
	u := c.kube.CoreV1().RESTClient().Post().Namespace("default").Resource("pods").Name(pod).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{Container: "main", Command: argv, Stdout: true, Stderr: true}, scheme.ParameterCodec).URL()
	x, err := remotecommand.NewSPDYExecutor(c.cfg, "POST", u)
	if err != nil {
		return -1, err
	}
	err = x.StreamWithContext(context.Background(), remotecommand.StreamOptions{Stdout: out, Stderr: out})
	var ee interface{ ExitStatus() int }
	switch {
	case err == nil:
		return 0, nil
	case errors.As(err, &ee):
		return ee.ExitStatus(), nil
	}
	return -1, err
}

// guestImageOf returns the test kernel and default image that the core
// module's tests build and cache: imagetest builds the agent with the go
// command in the current directory, so it runs from the repository's root
// (the core module) to build the same agent, and find the same cached
// image, as they do.
func guestImageOf(t *testing.T) *guestImage {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chdir("../.."); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := os.Chdir(wd); err != nil {
			t.Fatal(err)
		}
	}()
	return &guestImage{kernel: kerneltest.Vmlinux(t), rootfs: imagetest.RootFS(t)}
}
