// Package agentclient is the host side of the banger-agent protocol: it
// dials the agent's stream (Firecracker vsock or a unix socket), runs a
// yamux client session over it and offers typed calls. It owns only the
// protocol: it must not decide VM lifecycle, read VM records, or know where
// sockets live; its callers pass paths and tokens in.
package agentclient
