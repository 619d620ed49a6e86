package firecracker

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseVersion(t *testing.T) {
	tests := []struct {
		in      string
		want    Version
		wantErr bool
	}{
		{in: "Firecracker v1.7.0\n\n", want: Version{1, 7, 0, ""}},
		{in: "Firecracker v1.10.1", want: Version{1, 10, 1, ""}},
		{in: "1.5.0", want: Version{1, 5, 0, ""}},
		{in: "v1.8.0-dev", want: Version{1, 8, 0, "dev"}},
		{in: "Firecracker v2.0.3-rc1 (build)", want: Version{2, 0, 3, "rc1"}},
		{in: "Firecracker", wantErr: true},
		{in: "v1.7", wantErr: true},
		{in: "v1.x.0", wantErr: true},
		{in: "", wantErr: true},
	}
	for _, tc := range tests {
		got, err := ParseVersion(tc.in)
		if (err != nil) != tc.wantErr {
			t.Errorf("ParseVersion(%q) error = %v, wantErr %v", tc.in, err, tc.wantErr)
			continue
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("ParseVersion(%q) (-want +got):\n%s", tc.in, diff)
		}
	}
}

func TestVersionAtLeast(t *testing.T) {
	min, err := ParseVersion(MinVersion)
	if err != nil {
		t.Fatalf("MinVersion %q does not parse: %v", MinVersion, err)
	}
	tests := []struct {
		v    Version
		want bool
	}{
		{Version{1, 5, 0, ""}, true},
		{Version{1, 5, 1, ""}, true},
		{Version{1, 7, 0, ""}, true},
		{Version{2, 0, 0, ""}, true},
		{Version{1, 4, 9, ""}, false},
		{Version{0, 25, 0, ""}, false},
	}
	for _, tc := range tests {
		if got := tc.v.AtLeast(min); got != tc.want {
			t.Errorf("%v.AtLeast(%v) = %v, want %v", tc.v, min, got, tc.want)
		}
	}
	if got, want := (Version{1, 8, 0, "dev"}).String(), "1.8.0-dev"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
}
