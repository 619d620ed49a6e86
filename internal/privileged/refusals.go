package privileged

import (
	"log/slog"
	"sync"
	"time"
)

const (
	// refusalInterval is how often refused connections of one uid are
	// logged at most (once, then a count at the end of each interval).
	refusalInterval = time.Minute
	// maxRefusedUIDs bounds the uids counted apart; more are counted
	// together.
	maxRefusedUIDs = 256
)

// refusalLog logs connections refused because of their caller's uid
// without letting a flood of them flood the log: the first refusal of a
// uid is logged at once, the next ones in the same interval are only
// counted, and flush, called once per interval and when the helper stops,
// logs one line per uid with the count of those left out.
type refusalLog struct {
	log *slog.Logger

	mu       sync.Mutex
	counts   map[int]int // uid: refusals not logged yet; present while the uid is being counted
	overflow int         // refusals of uids past maxRefusedUIDs, not logged yet
}

func newRefusalLog(log *slog.Logger) *refusalLog {
	return &refusalLog{log: log, counts: map[int]int{}}
}

// refused notes one refused connection of c.
func (r *refusalLog) refused(c caller) {
	r.mu.Lock()
	first := false
	if n, seen := r.counts[c.uid]; seen {
		r.counts[c.uid] = n + 1
	} else if len(r.counts) >= maxRefusedUIDs {
		r.overflow++
	} else {
		r.counts[c.uid], first = 0, true
	}
	r.mu.Unlock()
	if first {
		r.log.Warn("refused connection from another user", "uid", c.uid, "pid", c.pid)
	}
}

// flush logs what was left out since the last flush, one line per uid.
// A uid with nothing left out is forgotten: its next refusal is logged at
// once.
func (r *refusalLog) flush() {
	r.mu.Lock()
	pending := map[int]int{}
	for uid, n := range r.counts {
		if n == 0 {
			delete(r.counts, uid)
			continue
		}
		pending[uid] = n
		r.counts[uid] = 0
	}
	overflow := r.overflow
	r.overflow = 0
	r.mu.Unlock()
	for uid, n := range pending {
		r.log.Warn("refused more connections from another user", "uid", uid, "count", n)
	}
	if overflow > 0 {
		r.log.Warn("refused more connections from other users", "uids_over", maxRefusedUIDs, "count", overflow)
	}
}
