package api

// Port is a TCP port a guest listens on (GET /v1/vms/{ref}/ports).
type Port struct {
	Port    int    `json:"port"`
	Address string `json:"address"` // the guest address it is bound to
	Proto   string `json:"proto"`   // "tcp" or "tcp6"
	// Endpoint is how the host reaches it ("name.vm:8080"); empty when it
	// listens on the guest's loopback only.
	Endpoint string `json:"endpoint,omitempty"`
}

// Forward is a host loopback port relayed to a guest port for as long as
// the VM runs (/v1/vms/{ref}/forwards).
type Forward struct {
	VM        string `json:"vm"`
	HostAddr  string `json:"host_addr"`
	HostPort  int    `json:"host_port"`
	GuestPort int    `json:"guest_port"`
}

// ForwardRequest is the body of POST /v1/vms/{ref}/forwards. HostPort 0
// picks a free port; HostAddr defaults to 127.0.0.1.
type ForwardRequest struct {
	HostAddr  string `json:"host_addr,omitempty"`
	HostPort  int    `json:"host_port"`
	GuestPort int    `json:"guest_port"`
}
