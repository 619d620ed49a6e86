package dns

import (
	"fmt"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
)

// TestFloodWhileForwardsHang sends 5000 queries from several goroutines for
// names whose upstream never answers, and checks that local names are
// answered throughout and that forwards beyond the bound fail at once.
func TestFloodWhileForwardsHang(t *testing.T) {
	s := newTestServer(t, Config{Upstreams: []string{silentUpstream(t)}, MaxInflight: 64}, testRecords)
	addr := listen(t, s, true)
	const senders, perSender = 8, 625
	var servfail atomic.Int64
	var wg sync.WaitGroup
	for g := range senders {
		wg.Go(func() {
			c, err := net.Dial("udp", addr)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			// Count the SERVFAILs that come back while sending.
			var rwg sync.WaitGroup
			rwg.Go(func() {
				buf := make([]byte, 512)
				for {
					_ = c.SetReadDeadline(time.Now().Add(time.Second))
					n, err := c.Read(buf)
					if err != nil {
						return
					}
					r := new(mdns.Msg)
					if r.Unpack(buf[:n]) == nil && r.Rcode == mdns.RcodeServerFailure {
						servfail.Add(1)
					}
				}
			})
			for i := range perSender {
				m := new(mdns.Msg).SetQuestion(fmt.Sprintf("q%d-%d.example.", g, i), mdns.TypeA)
				raw, _ := m.Pack()
				if _, err := c.Write(raw); err != nil {
					t.Error(err)
					return
				}
			}
			rwg.Wait()
		})
	}
	// Local names keep being answered, promptly, during the flood.
	var answered, peak int
	for range 50 {
		peak = max(peak, runtime.NumGoroutine())
		r, err := exchange("udp", addr, "web.vm.", mdns.TypeA, time.Second)
		if err == nil && len(r.Answer) == 1 {
			answered++
		}
	}
	wg.Wait()
	if answered < 40 {
		t.Errorf("%d of 50 local queries answered during the flood, want nearly all", answered)
	}
	mustAnswer(t, addr, "the flood")
	// At most MaxInflight forwards hang; the rest get SERVFAIL right away.
	// How many of those replies arrive depends on the kernel dropping
	// packets when socket buffers overflow (all the more under -race), so
	// only their presence is required; TestMaxInflight checks the bound.
	if servfail.Load() == 0 {
		t.Error("no SERVFAIL replies during the flood, want the forwards beyond the bound refused")
	}
	// Goroutines stay bounded: the forwards, the readers, the test's own.
	if limit := 64 + 3*senders + 40; peak > limit {
		t.Errorf("%d goroutines during the flood, want at most %d", peak, limit)
	}
}
