// Package portfwd relays TCP connections from a host listener to a target
// address: the host side of `banger vm forward`. It decides nothing about
// which ports are forwarded or to which VM; it only listens, dials and
// copies bytes, and stops everything it started on Close.
package portfwd

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"
)

// dialTimeout bounds connecting to the target for one accepted connection.
const dialTimeout = 5 * time.Second

// Forward is one listening relay.
type Forward struct {
	ln     net.Listener
	target string
	log    *slog.Logger

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// Listen starts relaying connections accepted on listen ("127.0.0.1:8080",
// port 0 for any free one) to target.
func Listen(listen, target string, log *slog.Logger) (*Forward, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, err
	}
	f := &Forward{ln: ln, target: target, log: log, conns: map[net.Conn]struct{}{}}
	f.wg.Add(1)
	go f.accept()
	return f, nil
}

// Addr is the address the relay listens on.
func (f *Forward) Addr() *net.TCPAddr { return f.ln.Addr().(*net.TCPAddr) }

func (f *Forward) accept() {
	defer f.wg.Done()
	for {
		c, err := f.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			f.log.Warn("accept a forwarded connection", "listen", f.ln.Addr().String(), "err", err)
			time.Sleep(50 * time.Millisecond)
			continue
		}
		if !f.track(c) {
			c.Close()
			return
		}
		f.wg.Add(1)
		go f.relay(c)
	}
}

// track records an open connection; false once the forward is closed.
func (f *Forward) track(c net.Conn) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return false
	}
	f.conns[c] = struct{}{}
	return true
}

func (f *Forward) untrack(c net.Conn) {
	f.mu.Lock()
	delete(f.conns, c)
	f.mu.Unlock()
	c.Close()
}

func (f *Forward) relay(in net.Conn) {
	defer f.wg.Done()
	defer f.untrack(in)
	ctx, cancel := context.WithTimeout(context.Background(), dialTimeout)
	out, err := (&net.Dialer{}).DialContext(ctx, "tcp", f.target)
	cancel()
	if err != nil {
		f.log.Info("forwarded connection refused by the guest", "target", f.target, "err", err)
		return
	}
	if !f.track(out) {
		out.Close()
		return
	}
	defer f.untrack(out)
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		if tc, ok := dst.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		done <- struct{}{}
	}
	go pipe(out, in)
	go pipe(in, out)
	<-done
	<-done
}

// Close stops listening, ends every relayed connection and waits for the
// relay's goroutines.
func (f *Forward) Close() error {
	f.mu.Lock()
	f.closed = true
	err := f.ln.Close()
	for c := range f.conns {
		c.Close()
	}
	f.mu.Unlock()
	f.wg.Wait()
	return err
}
