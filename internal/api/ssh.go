package api

// SSHInfo is returned by GET /v1/ssh: what an OpenSSH client needs to
// reach banger's VMs.
type SSHInfo struct {
	// IdentityFile is banger's private key (made on first use).
	IdentityFile string `json:"identity_file"`
	// KnownHostsFile holds the VMs' pinned host keys.
	KnownHostsFile string `json:"known_hosts_file"`
	// Domain: VMs are pinned, and reached, as <name>.<domain>.
	Domain string `json:"domain"`
}

// TCPUpgrade is the Upgrade token of POST /v1/vms/{ref}/tcp.
const TCPUpgrade = "banger-tcp"
