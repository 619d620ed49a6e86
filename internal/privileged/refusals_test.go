package privileged

import (
	"strings"
	"testing"
)

// TestRefusalLog: one line per uid at once, then one count per interval
// while refusals go on; a quiet uid is forgotten; past maxRefusedUIDs
// uids are counted together.
func TestRefusalLog(t *testing.T) {
	log, logs := newLogger()
	r := newRefusalLog(log)
	for range 100 {
		r.refused(caller{uid: 1001})
	}
	r.refused(caller{uid: 1002})
	if got := len(logs.lines(t)); got != 2 {
		t.Fatalf("%d lines after 101 refusals of 2 uids, want 2", got)
	}
	r.flush()
	more := logs.find(t, "refused more connections from another user", 1001)
	if len(more) != 1 || more[0]["count"] != float64(99) {
		t.Errorf("count lines for uid 1001 after a flush: %v, want one with count 99", more)
	}
	if got := logs.find(t, "refused more connections from another user", 1002); len(got) != 0 {
		t.Errorf("count lines for uid 1002, which had nothing left out: %v", got)
	}
	// 1002 was quiet: forgotten, its next refusal is logged at once.
	r.refused(caller{uid: 1002})
	if got := len(logs.find(t, "refused connection from another user", 1002)); got != 2 {
		t.Errorf("%d first-refusal lines for uid 1002 after it was forgotten, want 2", got)
	}
	// 1001 is still counted: its next refusal waits for the next flush.
	r.refused(caller{uid: 1001})
	if got := len(logs.find(t, "refused connection from another user", 1001)); got != 1 {
		t.Errorf("%d first-refusal lines for uid 1001 in its second interval, want 1", got)
	}

	before := len(logs.lines(t))
	for uid := range 2 * maxRefusedUIDs {
		r.refused(caller{uid: 100000 + uid})
	}
	if got := len(logs.lines(t)) - before; got > maxRefusedUIDs {
		t.Errorf("%d lines for %d uids, want at most %d", got, 2*maxRefusedUIDs, maxRefusedUIDs)
	}
	r.flush()
	if !hasMsg(logs.lines(t), "refused more connections from other users") {
		t.Error("no line counts the refusals of uids past the limit")
	}
}

func hasMsg(lines []string, msg string) bool {
	for _, l := range lines {
		if strings.Contains(l, `"msg":"`+msg+`"`) {
			return true
		}
	}
	return false
}
