package agent

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/yamux"

	"banger/internal/agent/proto"
	"banger/internal/errdefs"
)

// Server serves the agent protocol. Set the exported fields before the
// first Serve or ServeStream call and do not change them afterwards.
type Server struct {
	// Token is the per-VM secret every request must present as a bearer
	// token. It must not be empty.
	Token string
	// HostKeyDir holds ssh_host_*_key.pub; empty means /etc/ssh.
	HostKeyDir string
	// ProcDir is where procfs is mounted; empty means /proc.
	ProcDir string
	// Poweroff syncs and powers the machine off after POST /v1/shutdown has
	// been answered. Nil refuses shutdown requests; main wires PowerOff.
	Poweroff func() error
	// Version is reported by GET /v1/ready.
	Version string
	// MaxUpload bounds the tar body of PUT /v1/files; 0 means 16 GiB.
	MaxUpload int64
	// Log receives the agent's few log lines; nil discards them.
	Log *slog.Logger
	// Reidentify applies POST /v1/identity to the guest (SystemIdentity
	// in the guest); nil refuses those requests. Once it succeeds the
	// agent answers only to the request's new token.
	Reidentify func(ctx context.Context, id proto.Identity) error

	identityMu sync.Mutex   // serializes identity requests
	tokenMu    sync.RWMutex // guards newToken
	newToken   string       // the token an identity request set
}

const defaultMaxUpload = 16 << 30

// Serve accepts raw streams from ln (vsock connections, unix socket
// connections in tests) and serves each as a yamux server session carrying
// HTTP/1.1. It returns nil once ctx is done and everything it started has
// finished, or the error that stopped ln.Accept.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if err := s.check(); err != nil {
		return err
	}
	tr := &tracker{}
	hs := s.httpServer(ctx, tr)
	stop := context.AfterFunc(ctx, func() { ln.Close(); hs.Close() })
	defer stop()
	var sessions sync.WaitGroup
	defer tr.closeAndWait()
	defer sessions.Wait()
	defer hs.Close()
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("accept agent connection: %w", err)
		}
		sessions.Add(1)
		go func() {
			defer sessions.Done()
			err := s.serveSession(hs, conn)
			if err != nil && ctx.Err() == nil {
				s.logger().Info("agent session ended", "err", err)
			}
		}()
	}
}

// ServeStream serves one long-lived stream (the virtio-serial port) as a
// yamux server session. It returns nil when ctx is done and an error when
// the stream or session breaks; the caller reopens the stream then.
func (s *Server) ServeStream(ctx context.Context, conn io.ReadWriteCloser) error {
	if err := s.check(); err != nil {
		return err
	}
	tr := &tracker{}
	hs := s.httpServer(ctx, tr)
	stop := context.AfterFunc(ctx, func() { hs.Close() })
	defer stop()
	defer tr.closeAndWait()
	defer hs.Close()
	err := s.serveSession(hs, conn)
	if ctx.Err() != nil {
		return nil
	}
	return err
}

func (s *Server) check() error {
	if s.Token == "" {
		return errdefs.InvalidArgumentf("agent token is empty: write the per-VM token to the token file")
	}
	return nil
}

// serveSession runs HTTP over one yamux server session until the session
// ends or hs is closed.
func (s *Server) serveSession(hs *http.Server, conn io.ReadWriteCloser) error {
	cfg := yamux.DefaultConfig()
	cfg.LogOutput = io.Discard
	cfg.KeepAliveInterval = 15 * time.Second
	sess, err := yamux.Server(conn, cfg)
	if err != nil {
		conn.Close()
		return fmt.Errorf("start yamux session: %w", err)
	}
	defer sess.Close()
	err = hs.Serve(sess)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	if errors.Is(err, yamux.ErrSessionShutdown) {
		return fmt.Errorf("agent session closed by the host or by a protocol error: %w", err)
	}
	return err
}

func (s *Server) httpServer(ctx context.Context, tr *tracker) *http.Server {
	return &http.Server{
		Handler:           (&handler{Server: s, tr: tr}).routes(),
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ReadHeaderTimeout: 30 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.logger().Handler(), slog.LevelInfo),
	}
}

// handler serves the routes of one Serve or ServeStream call; tr owns every
// request and every piece of background work they start.
type handler struct {
	*Server
	tr *tracker
}

// routes returns the protocol's HTTP handler, authentication included.
func (h *handler) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/ready", h.handleReady)
	mux.HandleFunc("POST /v1/exec", h.handleExec)
	mux.HandleFunc("PUT /v1/files", h.handleUpload)
	mux.HandleFunc("GET /v1/files", h.handleDownload)
	mux.HandleFunc("GET /v1/stat", h.handleStat)
	mux.HandleFunc("GET /v1/ports", h.handlePorts)
	mux.HandleFunc("GET /v1/hostkeys", h.handleHostKeys)
	mux.HandleFunc("POST /v1/tcp", h.handleTCP)
	mux.HandleFunc("GET /v1/metrics", h.handleMetrics)
	mux.HandleFunc("POST /v1/shutdown", h.handleShutdown)
	mux.HandleFunc("POST "+identityRoute, h.handleIdentity)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, errdefs.NotFoundf("no agent route %s %s: is the host newer than this banger-agent?", r.Method, r.URL.Path))
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !h.tr.add() {
			writeError(w, errdefs.Unavailablef("banger-agent is shutting down"))
			return
		}
		defer h.tr.done()
		if !h.authorized(r) {
			writeJSON(w, http.StatusUnauthorized, proto.ErrorBody{Error: proto.Error{
				Code:    string(errdefs.FailedPrecondition),
				Message: "missing or wrong agent token: the host must send the VM's token as 'Authorization: Bearer <token>'",
			}})
			return
		}
		mux.ServeHTTP(w, r)
	})
}

func (s *Server) authorized(r *http.Request) bool {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(got), []byte(s.currentToken())) == 1
}

func (s *Server) logger() *slog.Logger {
	if s.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Log
}

func (s *Server) procDir() string {
	if s.ProcDir == "" {
		return "/proc"
	}
	return s.ProcDir
}

// tracker counts running work and refuses new work once closed, so that
// waiting for it cannot race with work being added.
type tracker struct {
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

func (t *tracker) add() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	t.wg.Add(1)
	return true
}

func (t *tracker) done() { t.wg.Done() }

func (t *tracker) closeAndWait() {
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
	t.wg.Wait()
}
