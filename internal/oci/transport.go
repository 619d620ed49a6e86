package oci

import (
	"net"
	"net/http"

	"banger/internal/errdefs"
)

// httpsOnly refuses plain HTTP except to loopback. go-containerregistry
// falls back to plain HTTP for registries named by a private address
// (10.x, 192.168.x, …); there credentials would cross the network in the
// clear and a tag could be answered by anyone on the path, so banger only
// allows it for a registry on this host.
type httpsOnly struct{ next http.RoundTripper }

func (h httpsOnly) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Scheme == "http" && !isLoopback(r.URL.Hostname()) {
		return nil, errdefs.FailedPreconditionf("refusing plain HTTP to the registry %s: banger pulls over HTTPS, and over plain HTTP only from a registry on this host (loopback)", r.URL.Host)
	}
	return h.next.RoundTrip(r)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
