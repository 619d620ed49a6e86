// Command banger-vk registers this host as a Kubernetes node through
// virtual-kubelet and runs the Pods bound to it as VMs of the local
// bangerd. See docs/kubernetes.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"banger/vk/provider"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "banger-vk:", err)
		os.Exit(1)
	}
}

func run() error {
	host, _ := os.Hostname()
	var (
		kubeconfig = flag.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the cluster (empty: in-cluster config)")
		nodeName   = flag.String("node-name", "banger-"+host, "name of the Kubernetes node")
		socket     = flag.String("socket", defaultSocket(), "bangerd's unix socket")
		cpus       = flag.Int("cpus", runtime.NumCPU(), "CPUs the node advertises")
		memory     = flag.Int("memory-mib", hostMemoryMiB(), "memory (MiB) the node advertises")
		maxVMs     = flag.Int("max-vms", 32, "VMs (Pods) the node advertises")
		poll       = flag.Duration("poll", 5*time.Second, "how often bangerd's health and the VMs are checked")
		address    = flag.String("address", "", "this host's address the apiserver reaches the kubelet API at (kubectl logs, exec); empty serves none")
		port       = flag.Int("kubelet-port", 10250, "port of the kubelet API")
	)
	flag.Parse()
	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		return fmt.Errorf("load the kubeconfig %q: %w: pass --kubeconfig or run inside the cluster", *kubeconfig, err)
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("make the Kubernetes client: %w", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger := log.New(os.Stderr, "banger-vk: ", log.LstdFlags)
	var ln net.Listener
	if *address != "" {
		if ln, err = net.Listen("tcp", net.JoinHostPort(*address, fmt.Sprint(*port))); err != nil {
			return fmt.Errorf("listen for the kubelet API: %w: pick another --kubelet-port", err)
		}
	} else {
		*port = 0
	}
	return provider.Run(ctx, provider.Options{
		Config: provider.Config{NodeName: *nodeName, Backend: provider.NewClient(*socket),
			CPUs: *cpus, MemoryMiB: *memory, MaxVMs: *maxVMs, Poll: *poll, Address: *address, KubeletPort: *port},
		KubeletListener: ln,
		Kube:            kube,
		Logf:            logger.Printf,
		Ready: func() {
			logger.Printf("node %s registered, bangerd at %s", *nodeName, *socket)
		},
	})
}

// defaultSocket is where bangerd listens for this user.
func defaultSocket() string {
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		return d + "/banger/bangerd.sock"
	}
	return fmt.Sprintf("/tmp/banger-runtime-%d/bangerd.sock", os.Getuid())
}

// hostMemoryMiB is the host's RAM in MiB.
func hostMemoryMiB() int {
	var si syscall.Sysinfo_t
	if err := syscall.Sysinfo(&si); err != nil {
		return 0
	}
	return int(uint64(si.Totalram) * uint64(si.Unit) >> 20)
}
