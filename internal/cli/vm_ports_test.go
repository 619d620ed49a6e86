package cli

import (
	"testing"

	"banger/internal/api"
)

func TestParseForward(t *testing.T) {
	tests := []struct {
		in   string
		want api.ForwardRequest
		bad  bool
	}{
		{"80", api.ForwardRequest{HostPort: 80, GuestPort: 80}, false},
		{"8080:80", api.ForwardRequest{HostPort: 8080, GuestPort: 80}, false},
		{"0:22", api.ForwardRequest{HostPort: 0, GuestPort: 22}, false},
		{"0", api.ForwardRequest{}, true},
		{"x:80", api.ForwardRequest{}, true},
		{"80:70000", api.ForwardRequest{}, true},
		{"-1:80", api.ForwardRequest{}, true},
		{"", api.ForwardRequest{}, true},
	}
	for _, tt := range tests {
		got, err := parseForward(tt.in)
		if (err != nil) != tt.bad || (!tt.bad && got != tt.want) {
			t.Errorf("parseForward(%q) = %+v, %v; want %+v, bad=%v", tt.in, got, err, tt.want, tt.bad)
		}
	}
}
