package privileged

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"banger/internal/errdefs"
)

const (
	// maxRequest caps a request body; a spec of 200 VMs takes about 25 KiB.
	maxRequest = 1 << 20
	// requestTimeout is how long a caller has to send its whole request.
	requestTimeout = 10 * time.Second
	// replyTimeout is how long a caller has to take the answer.
	replyTimeout = 10 * time.Second
)

// Serve answers requests on ln until ctx is done, then closes ln, waits
// for the requests in progress and returns nil. Each connection carries
// one JSON request and gets one answer (see the package comment); callers
// other than p.UID and root are refused at once, before anything is read.
// Refusals are logged with the caller's uid; refused connections at most
// once per uid per minute, with a count of the others. A nil log
// discards.
func Serve(ctx context.Context, ln *net.UnixListener, p Policy, h Served, log *slog.Logger) error {
	return newServer(p, h, log, requestTimeout).serve(ctx, ln)
}

// server is one Serve's state.
type server struct {
	policy Policy
	host   Served
	log    *slog.Logger
	idle   time.Duration // requestTimeout, shorter in tests

	refusals    *refusalLog
	refuseEvery time.Duration // refusalInterval, other in tests

	mu      sync.Mutex
	stopped bool
	conns   map[*net.UnixConn]struct{}
}

func newServer(p Policy, h Served, log *slog.Logger, idle time.Duration) *server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &server{policy: p, host: h, log: log, idle: idle, conns: map[*net.UnixConn]struct{}{},
		refusals: newRefusalLog(log), refuseEvery: refusalInterval}
}

func (s *server) serve(ctx context.Context, ln *net.UnixListener) error {
	defer ln.Close()
	if err := s.policy.Validate(); err != nil {
		return err
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	// The refused connections counted are logged once per interval, and
	// what is left when Serve returns.
	quit, flushed := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(flushed)
		tick := time.NewTicker(s.refuseEvery)
		defer tick.Stop()
		for {
			select {
			case <-quit:
				return
			case <-tick.C:
				s.refusals.flush()
			}
		}
	}()
	defer func() {
		close(quit)
		<-flushed
		s.refusals.flush()
	}()
	stop := context.AfterFunc(ctx, func() {
		_ = ln.Close()
		s.mu.Lock()
		defer s.mu.Unlock()
		s.stopped = true
		for c := range s.conns {
			// Callers still sending are cut off; a request already
			// read runs to its end and is answered.
			_ = c.SetReadDeadline(time.Now())
		}
	})
	defer stop()
	for {
		c, err := ln.AcceptUnix()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return fmt.Errorf("root helper: listener closed: %w", err)
			}
			s.log.Warn("accept a connection", "err", err)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(50 * time.Millisecond):
			}
			continue
		}
		who, ok := s.admit(c)
		if !ok {
			continue
		}
		s.track(c)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer s.untrack(c)
			s.serveConn(c, who)
		}()
	}
}

func (s *server) track(c *net.UnixConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.conns[c] = struct{}{}
	if s.stopped {
		_ = c.SetReadDeadline(time.Now())
	}
}

func (s *server) untrack(c *net.UnixConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
}

// refuseTimeout bounds the answer to a refused caller, sent by the accept
// loop itself.
const refuseTimeout = 100 * time.Millisecond

// admit checks the caller of a new connection, in the accept loop so that
// a refusal costs no goroutine and nothing is read from the caller. A
// refused caller gets a one-line error and the connection is closed; the
// refusal goes to the rate-limited log.
func (s *server) admit(c *net.UnixConn) (caller, bool) {
	who, err := peerCred(c)
	if err != nil {
		s.log.Warn("refused connection: read the caller's credentials", "err", err)
		_ = c.Close()
		return caller{}, false
	}
	err = s.policy.allowed(who)
	if err == nil {
		return who, true
	}
	s.refusals.refused(who)
	_ = c.SetWriteDeadline(time.Now().Add(refuseTimeout))
	b, _ := json.Marshal(reply{Error: toWireError(err)})
	_, _ = c.Write(append(b, '\n'))
	_ = c.Close()
	return caller{}, false
}

// serveConn answers the one request of c, whose caller who was admitted,
// and closes it.
func (s *server) serveConn(c *net.UnixConn, who caller) {
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(s.idle))
	req, err := s.read(c)
	if err != nil {
		if req.Method != "" || !errors.Is(err, io.EOF) {
			s.log.Warn("refused request", "uid", who.uid, "method", req.Method, "err", err)
			s.answer(c, nil, err)
		}
		return
	}
	result, err := s.handle(who, req)
	s.answer(c, result, err)
}

// read reads one request. A caller that hung up without sending anything
// gives io.EOF.
func (s *server) read(c io.Reader) (request, error) {
	lr := &io.LimitedReader{R: c, N: maxRequest + 1}
	dec := json.NewDecoder(lr)
	dec.DisallowUnknownFields()
	var req request
	err := dec.Decode(&req)
	switch {
	case err == nil:
	case lr.N <= 0:
		return request{}, errdefs.InvalidArgumentf("request is larger than %d bytes (1 MiB): send fewer VMs per spec", maxRequest)
	case errors.Is(err, os.ErrDeadlineExceeded):
		return request{}, errdefs.InvalidArgumentf("no complete request within %s: send one JSON request right after connecting", s.idle)
	case errors.Is(err, io.EOF):
		return request{}, io.EOF
	default:
		return request{}, errdefs.InvalidArgumentf("malformed request: %w: send one JSON object {\"method\": ..., \"args\": {...}}", err)
	}
	if req.Method == "" {
		return req, errdefs.InvalidArgumentf("request names no method")
	}
	return req, nil
}

// handle checks and runs one request for who. Refused requests never
// reach the Host.
func (s *server) handle(who caller, req request) (any, error) {
	h, ok := methods[req.Method]
	if !ok {
		err := errdefs.InvalidArgumentf("unknown method %q: this helper may be older than bangerd; upgrade both together", req.Method)
		s.log.Warn("refused request", "uid", who.uid, "method", req.Method, "err", err)
		return nil, err
	}
	act, err := h(s.policy, who, req.Args)
	if err != nil {
		s.log.Warn("refused request", "uid", who.uid, "method", req.Method, "err", err)
		return nil, err
	}
	result, err := act(s.host)
	if isRefusal(err) {
		s.log.Warn("refused request", "uid", who.uid, "method", req.Method, "err", err)
		return nil, err
	}
	if err != nil {
		s.log.Warn("call failed", "uid", who.uid, "method", req.Method, "code", string(errdefs.KindOf(err)), "err", err)
		return nil, err
	}
	s.log.Debug("call", "uid", who.uid, "method", req.Method)
	return result, nil
}

// answer writes the reply for result or err.
func (s *server) answer(c net.Conn, result any, err error) {
	var r reply
	if err != nil {
		r.Error = toWireError(err)
	} else {
		b, merr := json.Marshal(result)
		if merr != nil {
			r.Error = toWireError(errdefs.Internalf("encode the result: %w", merr))
		} else {
			r.Result = b
		}
	}
	b, err := json.Marshal(r)
	if err != nil {
		s.log.Error("encode a reply", "err", err)
		return
	}
	_ = c.SetWriteDeadline(time.Now().Add(replyTimeout))
	if _, err := c.Write(append(b, '\n')); err != nil {
		s.log.Warn("send a reply", "err", err)
	}
}
