package main

import (
	"bufio"
	"net"
	"strings"
	"sync"
	"time"
)

// vsockDevice is the host side of the vsock device. Like Firecracker, the
// fake binds uds_path as soon as PUT /vsock is accepted (so an existing
// path is refused with "address in use") and leaves the socket file behind
// when it exits. Once the guest runs it accepts host-initiated connections;
// there is no guest listening on any port, so after the "CONNECT <port>\n"
// line each connection is closed, which is what Firecracker does when the
// guest answers the connection request with a reset.
type vsockDevice struct {
	cfg vsockConfig
	ln  *net.UnixListener
	log *logger

	mu      sync.Mutex
	conns   map[net.Conn]struct{}
	closed  bool
	serving bool
	wg      sync.WaitGroup // accept loop and connection handlers
}

func bindVsock(cfg vsockConfig, log *logger) (*vsockDevice, error) {
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: cfg.UDSPath, Net: "unix"})
	if err != nil {
		return nil, faultf("Vsock config error: Cannot create backend for vsock device: UnixBind(%s)", osError(err))
	}
	ln.SetUnlinkOnClose(false)
	return &vsockDevice{cfg: cfg, ln: ln, log: log, conns: map[net.Conn]struct{}{}}, nil
}

// serve starts accepting connections; close stops and waits for it.
func (d *vsockDevice) serve() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.serving || d.closed {
		return
	}
	d.serving = true
	d.wg.Add(1)
	go d.acceptLoop()
}

func (d *vsockDevice) acceptLoop() {
	defer d.wg.Done()
	for {
		c, err := d.ln.Accept()
		if err != nil {
			return
		}
		d.mu.Lock()
		if d.closed {
			d.mu.Unlock()
			c.Close()
			return
		}
		d.conns[c] = struct{}{}
		d.wg.Add(1)
		d.mu.Unlock()
		go d.handle(c)
	}
}

func (d *vsockDevice) handle(c net.Conn) {
	defer d.wg.Done()
	defer func() {
		d.mu.Lock()
		delete(d.conns, c)
		d.mu.Unlock()
		c.Close()
	}()
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	line, err := bufio.NewReaderSize(c, 64).ReadString('\n')
	if err != nil {
		return
	}
	req := strings.TrimSpace(line)
	if port, ok := strings.CutPrefix(req, "CONNECT "); ok {
		d.log.logf(levelInfo, "fc_vmm", "vsock: host connection to port %s refused: no guest listener (fakefc runs no guest)", port)
		return
	}
	d.log.logf(levelWarn, "fc_vmm", "vsock: invalid host connection request %q", req)
}

// close stops accepting, drops open connections and waits for every
// goroutine the device started. The socket file stays, as with Firecracker.
func (d *vsockDevice) close() {
	d.mu.Lock()
	d.closed = true
	for c := range d.conns {
		c.Close()
	}
	d.mu.Unlock()
	d.ln.Close()
	d.wg.Wait()
}
