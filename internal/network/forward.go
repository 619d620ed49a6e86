package network

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"

	"banger/internal/errdefs"
	"banger/internal/store"
)

// Relay is a running host-port relay.
type Relay interface {
	Port() int // the host port it listens on
	Close() error
}

// Relayer starts relaying TCP from listen ("127.0.0.1:8080", port 0 for a
// free one) to target.
type Relayer func(listen, target string) (Relay, error)

// relayKey names a relay by its host address and port.
type relayKey struct {
	addr string
	port int
}

// Forward relays hostAddr:hostPort (port 0: a free one) to guestPort of
// the attached VM id, records it so that it is restored after a daemon
// restart, and returns it. The forward lasts until StopForward or until
// the VM stops.
func (s *Service) Forward(ctx context.Context, id, hostAddr string, hostPort, guestPort int) (store.Forward, error) {
	if s.cfg.Relay == nil {
		return store.Forward{}, errdefs.FailedPreconditionf("this daemon cannot forward ports")
	}
	if a, err := netip.ParseAddr(hostAddr); err != nil || !a.IsLoopback() {
		return store.Forward{}, errdefs.InvalidArgumentf("host address %q: forwards listen on loopback addresses only, e.g. 127.0.0.1", hostAddr)
	}
	if hostPort < 0 || hostPort > 65535 || guestPort < 1 || guestPort > 65535 {
		return store.Forward{}, errdefs.InvalidArgumentf("ports must be 1-65535 (host port 0 picks a free one)")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.attached[id]
	if !ok {
		return store.Forward{}, errdefs.FailedPreconditionf("the VM is not running: start it, then forward its ports")
	}
	f := store.Forward{HostAddr: hostAddr, HostPort: hostPort, VMID: id, GuestPort: guestPort}
	r, err := s.startRelay(f, m.rule.IP)
	if err != nil {
		return store.Forward{}, err
	}
	f.HostPort = r.Port()
	if err := s.cfg.Store.AddForward(ctx, f); err != nil {
		_ = r.Close()
		return store.Forward{}, err
	}
	s.relays[relayKey{hostAddr, f.HostPort}] = r
	return f, nil
}

// startRelay listens for f. s.mu must be held.
func (s *Service) startRelay(f store.Forward, guest netip.Addr) (Relay, error) {
	if _, busy := s.relays[relayKey{f.HostAddr, f.HostPort}]; busy && f.HostPort != 0 {
		return nil, errdefs.AlreadyExistsf("host port %s:%d is already forwarded: stop that forward first", f.HostAddr, f.HostPort)
	}
	listen := netip.AddrPortFrom(netip.MustParseAddr(f.HostAddr), uint16(f.HostPort)).String()
	target := netip.AddrPortFrom(guest, uint16(f.GuestPort)).String()
	r, err := s.cfg.Relay(listen, target)
	if err != nil {
		return nil, errdefs.FailedPreconditionf("listen on %s: %v: pick another host port", listen, err)
	}
	return r, nil
}

// StopForward ends the forward of hostAddr:hostPort to VM id.
func (s *Service) StopForward(ctx context.Context, id, hostAddr string, hostPort int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	fs, err := s.cfg.Store.ListForwards(ctx, id)
	if err != nil {
		return err
	}
	for _, f := range fs {
		if f.HostAddr == hostAddr && f.HostPort == hostPort {
			s.closeRelay(relayKey{hostAddr, hostPort})
			return s.cfg.Store.RemoveForward(ctx, hostAddr, hostPort)
		}
	}
	return errdefs.NotFoundf("host port %s:%d is not forwarded to this VM; --list shows its forwards", hostAddr, hostPort)
}

// Forwards lists VM id's forwards.
func (s *Service) Forwards(ctx context.Context, id string) ([]store.Forward, error) {
	return s.cfg.Store.ListForwards(ctx, id)
}

func (s *Service) closeRelay(k relayKey) {
	if r, ok := s.relays[k]; ok {
		_ = r.Close()
		delete(s.relays, k)
	}
}

// restoreForwards restarts the recorded forwards of an attached VM (after
// a daemon restart).
func (s *Service) restoreForwards(ctx context.Context, id string, guest netip.Addr) error {
	if s.cfg.Relay == nil {
		return nil
	}
	fs, err := s.cfg.Store.ListForwards(ctx, id)
	if err != nil || len(fs) == 0 {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for _, f := range fs {
		k := relayKey{f.HostAddr, f.HostPort}
		if _, ok := s.relays[k]; ok {
			continue
		}
		r, err := s.startRelay(f, guest)
		if err != nil {
			errs = append(errs, fmt.Errorf("restore forward %s:%s -> %d: %w", f.HostAddr, strconv.Itoa(f.HostPort), f.GuestPort, err))
			continue
		}
		s.relays[k] = r
	}
	return errors.Join(errs...)
}

// dropForwards ends and forgets VM id's forwards: they last as long as
// the VM runs.
func (s *Service) dropForwards(ctx context.Context, id string) error {
	fs, err := s.cfg.Store.ListForwards(ctx, id)
	if err != nil || len(fs) == 0 {
		return err
	}
	s.mu.Lock()
	for _, f := range fs {
		s.closeRelay(relayKey{f.HostAddr, f.HostPort})
	}
	s.mu.Unlock()
	return s.cfg.Store.RemoveForwards(ctx, id)
}
