package dns

import (
	"errors"
	"net"
	"net/netip"
	"time"
)

// serveUDP reads queries until the socket is closed. Local answers are
// written inline without allocating; forwards run in their own goroutine,
// bounded by the server's semaphore.
func (l *listener) serveUDP() {
	in := make([]byte, 65535)
	out := make([]byte, 0, maxLocalReply)
	var q query
	for {
		n, from, err := l.udp.ReadFromUDPAddrPort(in)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Transient (e.g. a queued ICMP error); do not spin on it.
			l.s.log.Debug("dns: udp read", "addr", l.Addr(), "err", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		msg := in[:n]
		reply, v := l.s.answer(out, msg, &q, l.fwd, true)
		switch v {
		case send:
			_, _ = l.udp.WriteToUDPAddrPort(reply, from)
		case forward:
			if !l.s.tryAcquire() {
				_, _ = l.udp.WriteToUDPAddrPort(errorReply(out, msg, &q, true, rcodeServFail), from)
				continue
			}
			l.forwardUDP(append([]byte(nil), msg...), q, from)
		}
	}
}

// forwardUDP answers the query msg from an upstream, in the background.
// The caller holds a forwarding slot, which this releases.
func (l *listener) forwardUDP(msg []byte, q query, from netip.AddrPort) {
	l.wg.Go(func() {
		defer l.s.release()
		l.s.exchange(l.ctx, "udp", msg, &q, func(reply []byte) {
			_, _ = l.udp.WriteToUDPAddrPort(reply, from)
		})
	})
}
