package provider

import (
	"errors"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// vmShape is what a Pod asks of its VM.
type vmShape struct {
	image     string
	vcpus     int
	memoryMiB int
	argv      []string
	env       []string
}

// vmSpec maps a Pod to its VM: the image from the annotation or the
// container's image, vCPUs and memory from the container's limits (or
// requests), the command and args, and env.
func vmSpec(pod *corev1.Pod) (vmShape, error) {
	if len(pod.Spec.Containers) != 1 || len(pod.Spec.InitContainers) > 0 {
		return vmShape{}, fmt.Errorf("a banger Pod has exactly one container and no init containers; this one has %d and %d", len(pod.Spec.Containers), len(pod.Spec.InitContainers))
	}
	c := pod.Spec.Containers[0]
	s := vmShape{image: c.Image, argv: append(slices.Clone(c.Command), c.Args...)}
	if img := pod.Annotations[AnnotationImage]; img != "" {
		s.image = img
	}
	if s.image == "" {
		return vmShape{}, errors.New("the container names no image and the Pod has no " + AnnotationImage + " annotation")
	}
	pick := func(name corev1.ResourceName) (resource.Quantity, bool) {
		if q, ok := c.Resources.Limits[name]; ok {
			return q, true
		}
		q, ok := c.Resources.Requests[name]
		return q, ok
	}
	if q, ok := pick(corev1.ResourceCPU); ok {
		s.vcpus = int((q.MilliValue() + 999) / 1000)
	}
	if q, ok := pick(corev1.ResourceMemory); ok {
		s.memoryMiB = int((q.Value() + 1<<20 - 1) >> 20)
	}
	for _, ev := range c.Env {
		s.env = append(s.env, ev.Name+"="+ev.Value)
	}
	return s, nil
}

// containerStatuses gives every container of pod the state st.
func containerStatuses(pod *corev1.Pod, st corev1.ContainerState, restarts int32) []corev1.ContainerStatus {
	var out []corev1.ContainerStatus
	for _, c := range pod.Spec.Containers {
		out = append(out, corev1.ContainerStatus{Name: c.Name, Image: c.Image, ImageID: c.Image, State: st, RestartCount: restarts})
	}
	if len(out) == 0 {
		out = append(out, corev1.ContainerStatus{Name: ContainerName, State: st})
	}
	return out
}

func ptr[T any](v T) *T { return &v }
