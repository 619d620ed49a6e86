package privileged

import (
	"net"

	"banger/internal/peercred"
)

// peerCred returns who is at the other end of c (SO_PEERCRED).
func peerCred(c *net.UnixConn) (caller, error) {
	cred, err := peercred.Of(c)
	if err != nil {
		return caller{}, err
	}
	return caller{uid: cred.UID, gid: cred.GID, pid: cred.PID}, nil
}
