// Package peercred reads who is at the other end of a unix socket
// connection (SO_PEERCRED), for the daemon's and the root helper's caller
// checks. It decides nothing about who may call.
package peercred

import (
	"errors"
	"net"

	"golang.org/x/sys/unix"
)

// Cred is the identity the kernel recorded for a connecting process.
type Cred struct {
	UID, GID, PID int
}

// Of returns the credentials of the process at the other end of c, which
// must be a unix socket connection.
func Of(c net.Conn) (Cred, error) {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return Cred{}, errors.New("not a unix socket connection")
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return Cred{}, err
	}
	var cred *unix.Ucred
	var serr error
	if err := raw.Control(func(fd uintptr) {
		cred, serr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return Cred{}, err
	}
	if serr != nil {
		return Cred{}, serr
	}
	return Cred{UID: int(cred.Uid), GID: int(cred.Gid), PID: int(cred.Pid)}, nil
}
