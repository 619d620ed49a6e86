// Package vsock provides an AF_VSOCK stream listener for banger-agent in a
// Firecracker guest. The standard library cannot wrap vsock sockets
// (net.FileListener refuses the address family), so this package does the
// few system calls itself on non-blocking descriptors driven by the runtime
// poller. It owns only the socket plumbing: no protocol, no policy.
package vsock

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Addr is a vsock address.
type Addr struct {
	CID  uint32
	Port uint32
}

// Network returns "vsock".
func (a Addr) Network() string { return "vsock" }

func (a Addr) String() string { return fmt.Sprintf("vsock:%d:%d", a.CID, a.Port) }

// Listener accepts vsock stream connections.
type Listener struct {
	f      *os.File
	addr   Addr
	closed atomic.Bool
}

// Listen listens on port for connections from any CID (the host is CID 2).
func Listen(port uint32) (*Listener, error) {
	fd, err := unix.Socket(unix.AF_VSOCK, unix.SOCK_STREAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("create vsock socket: %w: does the kernel have CONFIG_VIRTIO_VSOCKETS and the VM a vsock device?", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrVM{CID: unix.VMADDR_CID_ANY, Port: port}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("bind vsock port %d: %w", port, err)
	}
	if err := unix.Listen(fd, 128); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("listen on vsock port %d: %w", port, err)
	}
	return &Listener{f: os.NewFile(uintptr(fd), fmt.Sprintf("vsock:%d", port)), addr: Addr{CID: unix.VMADDR_CID_ANY, Port: port}}, nil
}

// Accept waits for the next connection. It returns net.ErrClosed after
// Close.
func (l *Listener) Accept() (net.Conn, error) {
	rc, err := l.f.SyscallConn()
	if err != nil {
		return nil, net.ErrClosed
	}
	var nfd int
	var sa unix.Sockaddr
	var aerr error
	err = rc.Read(func(fd uintptr) bool {
		nfd, sa, aerr = unix.Accept4(int(fd), unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK)
		return !errors.Is(aerr, unix.EAGAIN)
	})
	if err != nil {
		if l.closed.Load() {
			return nil, net.ErrClosed
		}
		return nil, fmt.Errorf("accept vsock connection: %w", err)
	}
	if aerr != nil {
		return nil, fmt.Errorf("accept vsock connection: %w", aerr)
	}
	remote := Addr{}
	if vm, ok := sa.(*unix.SockaddrVM); ok {
		remote = Addr{CID: vm.CID, Port: vm.Port}
	}
	return &Conn{File: os.NewFile(uintptr(nfd), "vsock:"+remote.String()), local: l.addr, remote: remote}, nil
}

// Close stops the listener and unblocks Accept.
func (l *Listener) Close() error {
	l.closed.Store(true)
	return l.f.Close()
}

// Addr returns the listening address.
func (l *Listener) Addr() net.Addr { return l.addr }

// Conn is one vsock stream. Reads, writes and deadlines go through the
// embedded non-blocking *os.File.
type Conn struct {
	*os.File
	local, remote Addr
}

// LocalAddr returns the guest side's address.
func (c *Conn) LocalAddr() net.Addr { return c.local }

// RemoteAddr returns the peer's address.
func (c *Conn) RemoteAddr() net.Addr { return c.remote }

// SetDeadline sets read and write deadlines.
func (c *Conn) SetDeadline(t time.Time) error { return c.File.SetDeadline(t) }
