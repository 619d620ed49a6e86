package netnstest

import (
	"net"
	"testing"

	"github.com/vishvananda/netlink"
)

func TestIsolateGivesAnEmptyNamespace(t *testing.T) {
	if !Isolate(t) {
		return
	}
	links, err := netlink.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, l := range links {
		names = append(names, l.Attrs().Name)
	}
	if len(names) != 1 || names[0] != "lo" {
		t.Fatalf("links = %v, want only lo", names)
	}
}

func TestVethReachesAnotherNamespace(t *testing.T) {
	if !Isolate(t) {
		return
	}
	up := New(t)
	if err := Veth("v-host", "v-up", up); err != nil {
		t.Fatal(err)
	}
	if err := AddrAdd("v-host", "192.0.2.1/24"); err != nil {
		t.Fatal(err)
	}
	var ln net.Listener
	err := up.Do(func() error {
		if err := AddrAdd("v-up", "192.0.2.2/24"); err != nil {
			return err
		}
		var err error
		ln, err = net.Listen("tcp", "192.0.2.2:0")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			_, _ = c.Write([]byte("hi"))
			c.Close()
		}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 2)
	if _, err := c.Read(buf); err != nil || string(buf) != "hi" {
		t.Fatalf("read %q, %v", buf, err)
	}
	// The namespace of this process still has no such listener.
	if _, err := net.Dial("tcp", "127.0.0.1"+ln.Addr().String()[len("192.0.2.2"):]); err == nil {
		t.Fatal("the listener leaked into the test's namespace")
	}
}

func BenchmarkLinkListInNamespace(b *testing.B) {
	if !Isolate(b) {
		return
	}
	for b.Loop() {
		if _, err := netlink.LinkList(); err != nil {
			b.Fatal(err)
		}
	}
}
