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

// fill makes spares until there are size of them or making one fails, and
// deletes those beyond size.
func (p *pool) fill() {
	p.trim()
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

// trim deletes the spares beyond size.
func (p *pool) trim() {
	for {
		p.mu.Lock()
		if len(p.spares) <= p.size {
			p.mu.Unlock()
			return
		}
		extra := p.spares[0]
		p.spares = p.spares[1:]
		p.mu.Unlock()
		if err := p.links.DeleteLink(extra); err != nil {
			p.log.Warn("drop a spare tap", "tap", extra, "err", err)
		}
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

// give takes tap back as a spare: it is detached from the bridge and
// renamed. Deleting a link costs the kernel tens of milliseconds, so a
// stop hands its tap over even when the pool is full, up to twice its
// size, and the pool deletes the extra spares in the background. It
// reports whether it took the tap.
func (p *pool) give(tap string) bool {
	p.mu.Lock()
	room := p.size > 0 && len(p.spares) < 2*p.size && p.stop != nil
	p.mu.Unlock()
	if !room {
		return false
	}
	name := p.prefix + randomHex(4)
	if err := p.links.DetachTap(tap); err != nil {
		return false
	}
	if err := p.links.RenameLink(tap, name); err != nil {
		return false
	}
	p.mu.Lock()
	p.spares = append(p.spares, name)
	p.mu.Unlock()
	p.poke()
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
