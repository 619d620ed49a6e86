// Package dns is banger's embedded DNS server. It answers A and PTR queries
// for "<vm>.<domain>" from an in-memory record set that the daemon keeps in
// step with the VMs, and, on listeners meant for guests, forwards every
// other name to the host's upstream resolvers. It owns its sockets and the
// goroutines serving them, and must not touch the store, the network
// configuration of the host or any banger package besides errdefs and names.
package dns

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"banger/internal/errdefs"
)

// defaultMaxInflight bounds concurrent upstream forwards when Config leaves it 0.
const defaultMaxInflight = 256

// Config configures a Server.
type Config struct {
	// Domain is the zone the server is authoritative for: "vm" makes names
	// "<label>.vm.".
	Domain string
	// Upstreams are the "IP:port" resolvers that forwarding listeners send
	// names outside Domain to, tried in order.
	Upstreams []string
	// Logger receives debug messages; nil discards them.
	Logger *slog.Logger
	// MaxInflight bounds concurrent upstream forwards; 0 means 256. A query
	// that would exceed it is answered SERVFAIL at once.
	MaxInflight int
}

// Server answers DNS queries on any number of listeners from one record set.
type Server struct {
	zone      zone
	log       *slog.Logger
	sem       chan struct{}
	records   atomic.Pointer[table]
	upstreams atomic.Pointer[[]string]

	mu        sync.Mutex // serialises record changes and guards the fields below
	listeners map[*listener]struct{}
	closed    bool
}

// NewServer validates cfg and returns a server with no records and no
// listeners. Every problem in cfg is reported at once.
func NewServer(cfg Config) (*Server, error) {
	var errs []error
	z, err := newZone(cfg.Domain)
	if err != nil {
		errs = append(errs, err)
	}
	ups, err := checkUpstreams(cfg.Upstreams)
	if err != nil {
		errs = append(errs, err)
	}
	if cfg.MaxInflight < 0 {
		errs = append(errs, errdefs.InvalidArgumentf("invalid MaxInflight %d: use 0 for the default of %d, or a positive bound", cfg.MaxInflight, defaultMaxInflight))
	}
	if len(errs) > 0 {
		return nil, errdefs.Wrap(errdefs.InvalidArgument, errors.Join(errs...))
	}
	inflight := cfg.MaxInflight
	if inflight == 0 {
		inflight = defaultMaxInflight
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{zone: z, log: log, sem: make(chan struct{}, inflight), listeners: map[*listener]struct{}{}}
	s.upstreams.Store(&ups)
	// The serial starts at the clock so that it grows across daemon restarts.
	t, err := z.build(nil, uint32(time.Now().Unix()))
	if err != nil {
		return nil, errdefs.Wrap(errdefs.Internal, err)
	}
	s.records.Store(t)
	return s, nil
}

// Domain returns the zone's fully qualified name, such as "vm.".
func (s *Server) Domain() string { return s.zone.fqdn }

// SetUpstreams replaces the upstream resolvers (for instance after the
// host's resolv.conf changed). Forwards already under way keep the old ones.
func (s *Server) SetUpstreams(upstreams []string) error {
	ups, err := checkUpstreams(upstreams)
	if err != nil {
		return err
	}
	s.upstreams.Store(&ups)
	return nil
}

// Upstreams returns the upstream resolvers in use.
func (s *Server) Upstreams() []string {
	return append([]string(nil), *s.upstreams.Load()...)
}

func checkUpstreams(upstreams []string) ([]string, error) {
	var errs []error
	out := make([]string, 0, len(upstreams))
	for _, u := range upstreams {
		ap, err := netip.ParseAddrPort(u)
		if err != nil || ap.Port() == 0 {
			errs = append(errs, errdefs.InvalidArgumentf("invalid dns.upstreams entry %q: use IP:port, such as \"192.0.2.1:53\" or \"[2001:db8::1]:53\"", u))
			continue
		}
		out = append(out, ap.String())
	}
	if len(errs) > 0 {
		return nil, errdefs.Wrap(errdefs.InvalidArgument, errors.Join(errs...))
	}
	return out, nil
}

// Close closes every listener and waits until their goroutines, forwards
// included, have returned. The server cannot listen again afterwards.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	ls := make([]*listener, 0, len(s.listeners))
	for l := range s.listeners {
		ls = append(ls, l)
	}
	s.mu.Unlock()
	var errs []error
	for _, l := range ls {
		if err := l.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close dns listener %s: %w", l.Addr(), err))
		}
	}
	return errors.Join(errs...)
}

func (s *Server) addListener(l *listener) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errdefs.FailedPreconditionf("dns server is closed: create a new one to listen again")
	}
	s.listeners[l] = struct{}{}
	return nil
}

func (s *Server) removeListener(l *listener) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.listeners, l)
}
