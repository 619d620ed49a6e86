// Package proto holds the wire types of the banger-agent protocol and the
// encoding of the framed exec stream. It is shared by the agent and its
// host-side client. It owns no behaviour beyond encoding and decoding: no
// I/O policy, no process handling, no HTTP.
package proto
