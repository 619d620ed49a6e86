package netlink

import (
	"testing"

	"banger/internal/netnstest"
)

func TestForwardingRoundTrip(t *testing.T) {
	if !netnstest.Isolate(t) {
		return
	}
	for _, want := range []bool{true, false, true} {
		if err := SetForwarding(want); err != nil {
			t.Fatal(err)
		}
		got, err := Forwarding()
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("Forwarding() = %v after SetForwarding(%v)", got, want)
		}
	}
}
