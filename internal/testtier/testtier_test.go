package testtier

import (
	"os"
	"strings"
	"testing"
)

func TestShortSkipsEveryTier(t *testing.T) {
	if !testing.Short() {
		t.Skip("checks -short behaviour; run with -short")
	}
	for name, why := range map[string]string{"root": rootMissing(), "guest": guestMissing()} {
		if !strings.Contains(why, "-short") {
			t.Errorf("%s tier under -short: reason %q, want a -short skip", name, why)
		}
	}
}

func TestRootTierNeedsRoot(t *testing.T) {
	if testing.Short() {
		t.Skip("checks the non-short reasons")
	}
	got := rootMissing()
	if os.Geteuid() == 0 && got != "" {
		t.Errorf("as root, rootMissing() = %q, want none", got)
	}
	if os.Geteuid() != 0 && !strings.Contains(got, "needs root") {
		t.Errorf("as uid %d, rootMissing() = %q, want a needs-root reason", os.Geteuid(), got)
	}
}
