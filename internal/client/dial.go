package client

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"

	"banger/internal/errdefs"
	"banger/internal/peercred"
)

// dial connects to the daemon socket and checks, before anything is sent,
// that the process listening there runs as this user or as root
// (SO_PEERCRED of the connection). Root is accepted because root can read
// and write everything this user has anyway, so refusing it protects
// nothing, and a daemon run as root (development, CI) serves its users.
// Any other uid is someone else's listener, perhaps one planted where the
// daemon's socket should be: the connection is closed unused and the
// error says what to do. Every request of the Client goes through dial.
func (c *Client) dial(ctx context.Context) (net.Conn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", c.Socket)
	if err != nil {
		return nil, err
	}
	if err := checkPeer(conn, c.Socket, os.Getuid()); err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

// checkPeer refuses conn unless the process at its other end runs as uid
// or root.
func checkPeer(conn net.Conn, socket string, uid int) error {
	cred, err := peercred.Of(conn)
	if err != nil {
		return errdefs.FailedPreconditionf("cannot tell who listens on %s (%v), so banger will not talk to it", socket, err)
	}
	if cred.UID == uid || cred.UID == 0 {
		return nil
	}
	dir := filepath.Dir(socket)
	return errdefs.FailedPreconditionf("refusing to talk to %s: the process listening there (pid %d) runs as uid %d, not as you (uid %d) or root, so it is not your bangerd: "+
		"remove %s (sudo rm -rf %s), or set XDG_RUNTIME_DIR to a directory only you can use, and run banger again", socket, cred.PID, cred.UID, uid, dir, dir)
}

// untrusted returns the refusal of checkPeer inside err, or nil.
func untrusted(err error) *errdefs.Error {
	var e *errdefs.Error
	if errors.As(err, &e) && e.Kind == errdefs.FailedPrecondition {
		return e
	}
	return nil
}
