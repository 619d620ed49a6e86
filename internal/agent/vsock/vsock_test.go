package vsock

import (
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func listenOrSkip(t *testing.T) *Listener {
	t.Helper()
	ln, err := Listen(41000 + uint32(time.Now().UnixNano()%1000))
	if err != nil {
		t.Skipf("needs AF_VSOCK (vsock kernel modules): %v", err)
	}
	return ln
}

func TestCloseUnblocksAccept(t *testing.T) {
	ln := listenOrSkip(t)
	if got := ln.Addr().Network(); got != "vsock" {
		t.Errorf("Network() = %q, want vsock", got)
	}
	done := make(chan error, 1)
	go func() { _, err := ln.Accept(); done <- err }()
	time.Sleep(50 * time.Millisecond)
	ln.Close()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("Accept after Close = %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Accept still blocked 5s after Close")
	}
}

func TestLoopbackConnection(t *testing.T) {
	ln := listenOrSkip(t)
	defer ln.Close()
	fd, err := unix.Socket(unix.AF_VSOCK, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	tv := unix.Timeval{Sec: 1}
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv)
	if err := unix.Connect(fd, &unix.SockaddrVM{CID: unix.VMADDR_CID_LOCAL, Port: ln.addr.Port}); err != nil {
		t.Skipf("needs the vsock_loopback kernel module to connect locally: %v", err)
	}
	conn, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	unix.Write(fd, []byte("ping"))
	buf := make([]byte, 4)
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(conn, buf); err != nil || string(buf) != "ping" {
		t.Errorf("read %q, %v; want ping", buf, err)
	}
}
