package dns

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"time"

	mdns "github.com/miekg/dns"
)

// upstreamTimeout bounds the exchange with one upstream.
const upstreamTimeout = 2 * time.Second

// bufPool holds buffers big enough for any DNS message, for upstream replies.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 65535); return &b }}

// tryAcquire takes a forwarding slot without waiting. When every slot is
// taken the caller answers SERVFAIL at once, so that a flood of queries
// for names that hang upstream cannot pile up goroutines.
func (s *Server) tryAcquire() bool {
	select {
	case s.sem <- struct{}{}:
		return true
	default:
		return false
	}
}

func (s *Server) release() { <-s.sem }

// exchange sends msg (the query q, as received) to each upstream in turn
// over network ("udp" or "tcp") until one answers, and calls deliver with
// the answer, its ID set back to the client's. Replies are passed through
// unchanged otherwise, truncated ones included, so the client can retry
// over TCP. When no upstream answers, deliver gets a SERVFAIL.
func (s *Server) exchange(ctx context.Context, network string, msg []byte, q *query, deliver func([]byte)) {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	out := make([]byte, 0, len(msg)+16)
	// The upstream sees a fresh random ID: the client's may be predictable.
	fwd := append([]byte(nil), msg...)
	var errs []error
	for _, up := range *s.upstreams.Load() {
		id := uint16(rand.Uint32())
		binary.BigEndian.PutUint16(fwd, id)
		reply, err := exchangeOne(ctx, network, up, fwd, q, id, buf)
		if err == nil {
			binary.BigEndian.PutUint16(reply, q.id)
			deliver(reply)
			return
		}
		errs = append(errs, fmt.Errorf("upstream %s: %w", up, err))
		if ctx.Err() != nil {
			break
		}
	}
	s.log.Debug("dns: forwarding failed", "network", network, "err", errors.Join(errs...))
	deliver(errorReply(out, msg, q, true, rcodeServFail))
}

// exchangeOne asks one upstream. Over UDP it ignores packets that do not
// answer the query (wrong ID or question), as they may be spoofed or late.
func exchangeOne(ctx context.Context, network, upstream string, msg []byte, q *query, id uint16, buf []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, upstreamTimeout)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, network, upstream)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	deadline, _ := ctx.Deadline()
	if err := c.SetDeadline(deadline); err != nil {
		return nil, err
	}
	// Cancellation (listener closing) interrupts a pending read at once.
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	co := &mdns.Conn{Conn: c}
	if _, err := co.Write(msg); err != nil {
		return nil, err
	}
	for {
		n, err := co.Read(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("no answer within %v: %w", upstreamTimeout, ctx.Err())
			}
			return nil, err
		}
		reply := buf[:n]
		if answers(reply, msg, q, id) {
			return reply, nil
		}
		if network != "udp" {
			return nil, errors.New("reply does not match the query")
		}
	}
}

// answers reports whether reply is a response to the query msg sent with id:
// same ID, QR set, and the same question (or none, as some servers send with
// FORMERR).
func answers(reply, msg []byte, q *query, id uint16) bool {
	if len(reply) < headerLen || binary.BigEndian.Uint16(reply) != id || reply[2]&0x80 == 0 {
		return false
	}
	switch binary.BigEndian.Uint16(reply[4:]) {
	case 0:
		return reply[3]&0xf != rcodeSuccess
	case 1:
		return len(reply) >= q.qEnd && asciiEqualFold(reply[headerLen:q.qEnd], msg[headerLen:q.qEnd])
	}
	return false
}

// asciiEqualFold compares wire data ignoring the case of ASCII letters only.
func asciiEqualFold(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
