package privileged

import (
	"net"

	"golang.org/x/sys/unix"
)

// peerCred returns the credentials of the process at the other end of c,
// as the kernel recorded them when it connected (SO_PEERCRED).
func peerCred(c *net.UnixConn) (caller, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return caller{}, err
	}
	var cred *unix.Ucred
	var serr error
	if err := raw.Control(func(fd uintptr) {
		cred, serr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return caller{}, err
	}
	if serr != nil {
		return caller{}, serr
	}
	return caller{uid: int(cred.Uid), gid: int(cred.Gid), pid: int(cred.Pid)}, nil
}
