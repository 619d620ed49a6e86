package network

import (
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"sync"
)

// pool keeps spare taps ready so a start renames one instead of waiting
// for a tap to be made. Spares are persistent links named prefix+random;
// they survive daemon restarts and are adopted by the next daemon.
type pool struct {
	links    Links
	prefix   string
	size     int
	uid, gid int
	log      *slog.Logger

	mu     sync.Mutex
	spares []string
	kick   chan struct{}
	stop   chan struct{}
	wg     sync.WaitGroup
	hits   int
	misses int
}

// start adopts the spares a previous daemon left, drops those beyond size
// and starts refilling in the background.
func (p *pool) start() error {
	names, err := p.links.Links(p.prefix)
	if err != nil {
		return err
	}
	p.mu.Lock()
	for i, n := range names {
		if i < p.size {
			p.spares = append(p.spares, n)
		} else if err := p.links.DeleteLink(n); err != nil {
			p.log.Warn("drop spare tap", "tap", n, "err", err)
		}
	}
	p.mu.Unlock()
	p.kick = make(chan struct{}, 1)
	p.stop = make(chan struct{})
	p.wg.Add(1)
	go p.run()
	p.poke()
	return nil
}

func (p *pool) poke() {
	if p.kick == nil {
		return
	}
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

func (p *pool) run() {
	defer p.wg.Done()
	for {
		select {
		case <-p.stop:
			return
		case <-p.kick:
			p.fill()
		}
	}
}

// fill makes spares until there are size of them or making one fails.
func (p *pool) fill() {
	for {
		p.mu.Lock()
		short := len(p.spares) < p.size
		p.mu.Unlock()
		if !short {
			return
		}
		select {
		case <-p.stop:
			return
		default:
		}
		name := p.prefix + randomHex(4)
		if err := p.links.CreateTap(name, p.uid, p.gid); err != nil {
			p.log.Warn("make a spare tap", "tap", name, "err", err)
			return
		}
		p.mu.Lock()
		p.spares = append(p.spares, name)
		p.mu.Unlock()
	}
}

// take renames a spare to tap and reports whether it could.
func (p *pool) take(tap string) bool {
	p.mu.Lock()
	if len(p.spares) == 0 {
		p.misses++
		p.mu.Unlock()
		p.poke()
		return false
	}
	spare := p.spares[len(p.spares)-1]
	p.spares = p.spares[:len(p.spares)-1]
	p.mu.Unlock()
	defer p.poke()
	if err := p.links.RenameLink(spare, tap); err != nil {
		p.log.Warn("take a spare tap", "tap", spare, "err", err)
		_ = p.links.DeleteLink(spare)
		p.mu.Lock()
		p.misses++
		p.mu.Unlock()
		return false
	}
	p.mu.Lock()
	p.hits++
	p.mu.Unlock()
	return true
}

// stats reports the spares ready and how often a start found one.
func (p *pool) stats() (ready, hits, misses int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.spares), p.hits, p.misses
}

func (p *pool) close() {
	if p.stop == nil {
		return
	}
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	p.wg.Wait()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
