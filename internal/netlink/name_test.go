package netlink

import (
	"testing"

	"banger/internal/errdefs"
)

func TestValidLinkName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"banger0", true},
		{"bt-0a1b2c3d", true},
		{"a", true},
		{"tap_pool-12", true},
		{"abcdefghijklmno", true}, // 15 bytes
		{"abcdefghijklmnop", false},
		{"", false},
		{"0tap", false},
		{"-tap", false},
		{"_tap", false},
		{"Tap0", false},
		{"tap.0", false},
		{"tap/0", false},
		{"tap 0", false},
		{"tap:0", false},
		{"täp", false},
		{"tap\x00", false},
	}
	for _, tt := range tests {
		err := ValidLinkName(tt.name)
		if got := err == nil; got != tt.ok {
			t.Errorf("ValidLinkName(%q) = %v, want ok %v", tt.name, err, tt.ok)
		}
		if err != nil && !errdefs.Is(err, errdefs.InvalidArgument) {
			t.Errorf("ValidLinkName(%q) kind = %s, want %s", tt.name, errdefs.KindOf(err), errdefs.InvalidArgument)
		}
	}
}
