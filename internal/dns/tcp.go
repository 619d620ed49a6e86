package dns

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"time"
)

const (
	// maxTCPConns bounds the open TCP connections of one listener; more
	// are closed at once.
	maxTCPConns = 256
	// tcpIdle is how long a TCP connection may wait for its next query
	// or for its reply to be read (RFC 7766 asks for a few seconds).
	tcpIdle = 10 * time.Second
)

// serveTCP accepts connections until the listener is closed.
func (l *listener) serveTCP() {
	for {
		c, err := l.tcp.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			l.s.log.Debug("dns: tcp accept", "addr", l.Addr(), "err", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		if !l.track(c) {
			_ = c.Close()
			continue
		}
		l.wg.Go(func() {
			defer l.untrack(c)
			defer c.Close()
			l.serveConn(c)
		})
	}
}

// serveConn answers length-prefixed queries on c (RFC 1035 section 4.2.2)
// one after another, until c is idle, broken or sends something that is not
// a query.
func (l *listener) serveConn(c net.Conn) {
	var size [2]byte
	var msg []byte
	out := make([]byte, 2, 2+maxLocalReply)
	var q query
	write := func(reply []byte) bool {
		out = append(out[:2], reply...)
		binary.BigEndian.PutUint16(out, uint16(len(reply)))
		_ = c.SetWriteDeadline(time.Now().Add(tcpIdle))
		_, err := c.Write(out)
		return err == nil
	}
	for {
		_ = c.SetReadDeadline(time.Now().Add(tcpIdle))
		if _, err := io.ReadFull(c, size[:]); err != nil {
			return
		}
		n := int(binary.BigEndian.Uint16(size[:]))
		if n < headerLen {
			return
		}
		if cap(msg) < n {
			msg = make([]byte, n)
		}
		msg = msg[:n]
		if _, err := io.ReadFull(c, msg); err != nil {
			return
		}
		reply, v := l.s.answer(out[2:2], msg, &q, l.fwd, false)
		switch v {
		case drop:
			return
		case send:
			if !write(reply) {
				return
			}
		case forward:
			if !l.s.tryAcquire() {
				if !write(errorReply(out[2:2], msg, &q, true, rcodeServFail)) {
					return
				}
				continue
			}
			ok := true
			l.s.exchange(l.ctx, "tcp", msg, &q, func(reply []byte) { ok = write(reply) })
			l.s.release()
			if !ok {
				return
			}
		}
	}
}
