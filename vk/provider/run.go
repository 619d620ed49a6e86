package provider

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path"
	"time"

	"github.com/virtual-kubelet/virtual-kubelet/node"
	"github.com/virtual-kubelet/virtual-kubelet/node/nodeutil"
	corev1 "k8s.io/api/core/v1"
	kubeinformers "k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/record"
)

// Options of Run.
type Options struct {
	Config
	Kube    kubernetes.Interface
	Workers int
	Logf    func(format string, args ...any)
	// Ready, if set, is called once the node is registered and the Pods
	// are synced.
	Ready func()
	// KubeletListener, if set, serves the kubelet API (logs and exec);
	// Config.Address and Config.KubeletPort say how the apiserver
	// reaches it.
	KubeletListener net.Listener
}

// Run registers the node and runs Pods on it until ctx ends.
func Run(ctx context.Context, o Options) error {
	if o.Kube == nil {
		return errors.New("provider: a Kubernetes client is required")
	}
	if o.Workers <= 0 {
		o.Workers = 4
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	podFactory := kubeinformers.NewSharedInformerFactoryWithOptions(o.Kube, time.Minute, nodeutil.PodInformerFilter(o.NodeName))
	scmFactory := kubeinformers.NewSharedInformerFactoryWithOptions(o.Kube, time.Minute)
	pods := podFactory.Core().V1().Pods()
	o.Pods = pods.Lister()
	p, err := New(o.Config)
	if err != nil {
		return err
	}
	// The Pods' work (creates waiting for bangerd, commands) ends with Run.
	p.base = ctx
	defer p.wg.Wait()
	defer cancel()

	eb := record.NewBroadcaster()
	eb.StartRecordingToSink(&corev1client.EventSinkImpl{Interface: o.Kube.CoreV1().Events(corev1.NamespaceAll)})
	defer eb.Shutdown()
	recorder := eb.NewRecorder(scheme.Scheme, corev1.EventSource{Component: path.Join(o.NodeName, "banger-vk")})

	pc, err := node.NewPodController(node.PodControllerConfig{
		PodClient:         o.Kube.CoreV1(),
		EventRecorder:     recorder,
		Provider:          p,
		PodInformer:       pods,
		SecretInformer:    scmFactory.Core().V1().Secrets(),
		ConfigMapInformer: scmFactory.Core().V1().ConfigMaps(),
		ServiceInformer:   scmFactory.Core().V1().Services(),
	})
	if err != nil {
		return fmt.Errorf("set up the pod controller: %w", err)
	}
	nc, err := node.NewNodeController(p, p.Node(), o.Kube.CoreV1().Nodes(),
		node.WithNodeEnableLeaseV1(nodeutil.NodeLeaseV1Client(o.Kube), node.DefaultLeaseDuration))
	if err != nil {
		return fmt.Errorf("set up the node controller: %w", err)
	}

	go podFactory.Start(ctx.Done())
	go scmFactory.Start(ctx.Done())
	pcErr := make(chan error, 1)
	go func() { pcErr <- pc.Run(ctx, o.Workers) }()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-pc.Ready():
	case err := <-pcErr:
		return fmt.Errorf("pod controller: %w", err)
	}
	ncErr := make(chan error, 1)
	go func() { ncErr <- nc.Run(ctx) }()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-nc.Ready():
	case err := <-ncErr:
		return fmt.Errorf("node controller: %w", err)
	}
	go p.Watch(ctx, o.Logf)
	apiErr := make(chan error, 1)
	if o.KubeletListener != nil {
		go func() { apiErr <- p.serveKubeletAPI(ctx, o.KubeletListener, nil) }()
	}
	if o.Ready != nil {
		o.Ready()
	}
	select {
	case <-ctx.Done():
		<-pc.Done()
		return nil
	case err := <-pcErr:
		return fmt.Errorf("pod controller: %w", err)
	case err := <-ncErr:
		return fmt.Errorf("node controller: %w", err)
	case err := <-apiErr:
		if err != nil {
			return err
		}
		<-ctx.Done()
		<-pc.Done()
		return nil
	}
}
