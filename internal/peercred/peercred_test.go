package peercred

import (
	"net"
	"os"
	"path/filepath"
	"testing"
)

func TestOf(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "s")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := net.Dial("unix", sock)
		if err == nil {
			defer c.Close()
			_, _ = c.Read(make([]byte, 1))
		}
	}()
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	got, err := Of(c)
	if err != nil {
		t.Fatal(err)
	}
	if got.UID != os.Getuid() || got.GID != os.Getgid() || got.PID != os.Getpid() {
		t.Errorf("Of = %+v, want this process (%d:%d pid %d)", got, os.Getuid(), os.Getgid(), os.Getpid())
	}
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()
	tc, err := net.Dial("tcp", tcp.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	if _, err := Of(tc); err == nil {
		t.Error("Of on a TCP connection succeeded")
	}
}
