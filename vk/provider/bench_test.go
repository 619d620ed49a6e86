package provider

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"banger/internal/api"
)

// median of ds, in milliseconds.
func medianMS(ds []time.Duration) float64 {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return float64(s[len(s)/2].Microseconds()) / 1000
}

// BenchmarkPodToRunning compares a Pod's way to Running through the
// apiserver, the real scheduler, banger-vk and bangerd (fake Firecracker)
// with bangerd creating and starting a VM directly (what `banger vm run -d`
// asks of it), and splits the Kubernetes path: scheduling (created until
// bound to the node), bangerd (the VM's create and start) and the rest
// (banger-vk, virtual-kubelet and the apiserver's status round trips).
func BenchmarkPodToRunning(b *testing.B) {
	needCluster(b)
	c := startCluster(b, true)
	d := startBangerd(b)
	startProvider(b, c, d, "banger-a", 64, 65536, 200)
	ctx := context.Background()
	const samples = 5
	for range b.N {
		var direct, total, sched, banger []time.Duration
		for i := range samples {
			t0 := time.Now()
			if _, err := d.client.CreateVM(ctx, api.CreateVMRequest{Name: fmt.Sprintf("direct-%d-%d", b.N, i), Start: true}, nil); err != nil {
				b.Fatal(err)
			}
			direct = append(direct, time.Since(t0))
		}
		for i := range samples {
			name := fmt.Sprintf("bench-%d-%d", b.N, i)
			t0 := time.Now()
			pod := createPod(b, c, bangerPod(name, "", "100m"))
			var bound time.Duration
			for {
				p, err := getPod(c, name)
				if err != nil {
					b.Fatal(err)
				}
				if bound == 0 && p.Spec.NodeName != "" {
					bound = time.Since(t0)
				}
				if p.Status.Phase == corev1.PodRunning {
					break
				}
				if time.Since(t0) > time.Minute {
					b.Fatalf("pod %s not Running after a minute: %v", name, p.Status)
				}
				time.Sleep(5 * time.Millisecond)
			}
			total = append(total, time.Since(t0))
			sched = append(sched, bound)
			vm, err := vmOf(d, pod)
			if err != nil {
				b.Fatal(err)
			}
			banger = append(banger, vm.StartedAt.Sub(vm.CreatedAt))
		}
		b.ReportMetric(medianMS(direct), "ms/direct-create-start")
		b.ReportMetric(medianMS(total), "ms/pod-to-running")
		b.ReportMetric(medianMS(sched), "ms/scheduling")
		b.ReportMetric(medianMS(banger), "ms/bangerd-in-pod-path")
		b.ReportMetric(medianMS(total)-medianMS(sched)-medianMS(banger), "ms/provider-and-api")
	}
}

// BenchmarkHundredPods: 100 Pods across two nodes backed by two bangerd;
// all must end Running, each with exactly one VM.
func BenchmarkHundredPods(b *testing.B) {
	needCluster(b)
	c := startCluster(b, true)
	da, db := startBangerd(b), startBangerd(b)
	startProvider(b, c, da, "banger-a", 50, 65536, 50)
	startProvider(b, c, db, "banger-b", 50, 65536, 50)
	ctx := context.Background()
	for range b.N {
		t0 := time.Now()
		for i := range 100 {
			createPod(b, c, bangerPod(fmt.Sprintf("h%d", i), "", "1"))
		}
		eventually(b, 10*time.Minute, "100 pods are Running", func() error {
			pods, err := c.kube.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
			if err != nil {
				return err
			}
			running := 0
			for _, p := range pods.Items {
				if p.Status.Phase == corev1.PodRunning {
					running++
				}
			}
			if running != 100 {
				return fmt.Errorf("%d of %d Running", running, len(pods.Items))
			}
			return nil
		})
		b.ReportMetric(float64(time.Since(t0).Milliseconds()), "ms/100-pods-running")
		na, nb := countVMs(b, da), countVMs(b, db)
		if na+nb != 100 {
			b.Errorf("%d + %d VMs for 100 pods", na, nb)
		}
		b.ReportMetric(float64(na), "vms-on-a")
		b.ReportMetric(float64(nb), "vms-on-b")
	}
}
