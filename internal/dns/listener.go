package dns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"syscall"

	"banger/internal/errdefs"
)

// Listener is one address the server answers on, over UDP and TCP.
type Listener interface {
	// Addr is the address served, "IP:port", with the real port when
	// Listen was given port 0.
	Addr() string
	// Close stops serving and waits for the listener's goroutines.
	Close() error
}

// listener serves one UDP socket and one TCP socket on the same address.
type listener struct {
	s      *Server
	fwd    bool
	udp    *net.UDPConn
	tcp    *net.TCPListener
	ctx    context.Context // cancelled by Close; bounds forwards
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu    sync.Mutex // guards conns
	conns map[net.Conn]struct{}

	closeOnce sync.Once
	closeErr  error
}

// bindRetries is how often Listen tries another port when given port 0
// and the port the UDP socket got is taken for TCP.
const bindRetries = 16

// Listen starts serving UDP and TCP on addr ("127.0.0.153:53"; port 0 picks
// a free port, the same for both). forward says whether names outside the
// domain are forwarded to the upstreams (listeners for guests) or answered
// REFUSED (the host's listener). ctx bounds the binding only: the listener
// serves until it or the server is closed.
func (s *Server) Listen(ctx context.Context, addr string, forward bool) (Listener, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return nil, errdefs.InvalidArgumentf("invalid dns.listen address %q: use IP:port, such as \"127.0.0.153:53\"", addr)
	}
	var lc net.ListenConfig
	var udp net.PacketConn
	var tcp net.Listener
	for try := 0; ; try++ {
		udp, err = lc.ListenPacket(ctx, "udp", ap.String())
		if err != nil {
			return nil, bindError("udp", ap, err)
		}
		bound := netip.AddrPortFrom(ap.Addr(), udp.LocalAddr().(*net.UDPAddr).AddrPort().Port())
		tcp, err = lc.Listen(ctx, "tcp", bound.String())
		if err == nil {
			break
		}
		_ = udp.Close()
		if ap.Port() != 0 || !errors.Is(err, syscall.EADDRINUSE) || try == bindRetries {
			return nil, bindError("tcp", bound, err)
		}
	}
	l := &listener{
		s:     s,
		fwd:   forward,
		udp:   udp.(*net.UDPConn),
		tcp:   tcp.(*net.TCPListener),
		conns: map[net.Conn]struct{}{},
	}
	l.ctx, l.cancel = context.WithCancel(context.Background())
	if err := s.addListener(l); err != nil {
		_ = udp.Close()
		_ = tcp.Close()
		l.cancel()
		return nil, err
	}
	// Several readers so that answering one packet overlaps reading the next.
	for range max(1, min(runtime.GOMAXPROCS(0), 8)) {
		l.wg.Go(l.serveUDP)
	}
	l.wg.Go(l.serveTCP)
	s.log.Debug("dns: listening", "addr", l.Addr(), "forward", forward)
	return l, nil
}

func bindError(network string, ap netip.AddrPort, err error) error {
	if errors.Is(err, syscall.EADDRINUSE) {
		return errdefs.Wrap(errdefs.Unavailable, fmt.Errorf("dns %s address %s is in use by another program: stop it or set dns.listen to another address: %w", network, ap, err))
	}
	return errdefs.Wrap(errdefs.Unavailable, fmt.Errorf("listen for dns on %s %s: %w", network, ap, err))
}

func (l *listener) Addr() string { return l.udp.LocalAddr().String() }

func (l *listener) Close() error {
	l.closeOnce.Do(func() {
		l.cancel()
		errU := l.udp.Close()
		errT := l.tcp.Close()
		l.mu.Lock()
		for c := range l.conns {
			_ = c.Close()
		}
		l.conns = nil
		l.mu.Unlock()
		l.wg.Wait()
		l.s.removeListener(l)
		l.closeErr = errors.Join(errU, errT)
	})
	return l.closeErr
}

// track registers a TCP connection so that Close can end it; it refuses
// connections beyond maxTCPConns or once the listener is closing.
func (l *listener) track(c net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conns == nil || len(l.conns) >= maxTCPConns {
		return false
	}
	l.conns[c] = struct{}{}
	return true
}

func (l *listener) untrack(c net.Conn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conns != nil {
		delete(l.conns, c)
	}
}
