package provider

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"time"

	vkerrdefs "github.com/virtual-kubelet/virtual-kubelet/errdefs"
	vkapi "github.com/virtual-kubelet/virtual-kubelet/node/api"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	utilexec "k8s.io/utils/exec"
)

// runningVM is the VM of a Pod that has one.
func (p *Provider) runningVM(namespace, name string) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	e, ok := p.pods[key(namespace, name)]
	if !ok || !e.created {
		return "", vkerrdefs.NotFoundf("pod %s/%s has no VM on %s", namespace, name, p.cfg.NodeName)
	}
	return e.vm, nil
}

// GetContainerLogs is `kubectl logs`: the VM's serial console.
func (p *Provider) GetContainerLogs(ctx context.Context, namespace, name, _ string, opts vkapi.ContainerLogOpts) (io.ReadCloser, error) {
	vm, err := p.runningVM(namespace, name)
	if err != nil {
		return nil, err
	}
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(p.cfg.Backend.Logs(ctx, vm, opts.Tail, opts.Follow, pw))
	}()
	return pr, nil
}

// RunInContainer is `kubectl exec`: the command runs through the guest
// agent; a non-zero exit is reported as the command's exit code.
func (p *Provider) RunInContainer(ctx context.Context, namespace, name, _ string, cmd []string, attach vkapi.AttachIO) error {
	vm, err := p.runningVM(namespace, name)
	if err != nil {
		return err
	}
	var stdout, stderr io.Writer = io.Discard, io.Discard
	if w := attach.Stdout(); w != nil {
		stdout = w
		defer w.Close()
	}
	if w := attach.Stderr(); w != nil {
		stderr = w
		defer w.Close()
	}
	code, err := p.cfg.Backend.Exec(ctx, vm, cmd, attach.TTY(), attach.Stdin(), stdout, stderr)
	if err != nil && code < 0 {
		return err
	}
	if code != 0 {
		if err == nil {
			err = fmt.Errorf("command terminated with exit code %d", code)
		}
		return utilexec.CodeExitError{Err: err, Code: code}
	}
	return nil
}

// kubeletHandler serves the parts of the kubelet API banger-vk has: logs,
// exec and the list of Pods. Attach, port-forward and stats answer 501.
func (p *Provider) kubeletHandler() http.Handler {
	return vkapi.PodHandler(vkapi.PodHandlerConfig{
		RunInContainer:   p.RunInContainer,
		GetContainerLogs: p.GetContainerLogs,
		GetPods:          p.GetPods,
		GetPodsFromKubernetes: func(context.Context) ([]*corev1.Pod, error) {
			if p.cfg.Pods == nil {
				return nil, errors.New("no pod lister")
			}
			return p.cfg.Pods.List(labels.Everything())
		},
		StreamIdleTimeout:     30 * time.Minute,
		StreamCreationTimeout: 30 * time.Second,
	}, false)
}

// serveKubeletAPI serves the kubelet API on ln over TLS with a self-signed
// certificate (the apiserver does not check kubelet certificates unless it
// is given --kubelet-certificate-authority) until ctx ends.
func (p *Provider) serveKubeletAPI(ctx context.Context, ln net.Listener, cert *tls.Certificate) error {
	if cert == nil {
		c, err := selfSigned(p.cfg.NodeName)
		if err != nil {
			return err
		}
		cert = &c
	}
	srv := &http.Server{Handler: p.kubeletHandler(), ReadHeaderTimeout: 30 * time.Second,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{*cert}, MinVersion: tls.VersionTLS12}}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.ServeTLS(ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve the kubelet API: %w", err)
	}
	return nil
}

// selfSigned makes a serving certificate for the node.
func selfSigned(node string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("make the kubelet API key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: node},
		DNSNames:     []string{node},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().AddDate(1, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("make the kubelet API certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
