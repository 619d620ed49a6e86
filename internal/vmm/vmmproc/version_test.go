package vmmproc

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
		// Firecracker: `firecracker --version`, GET /version, pre-releases.
		{in: "Firecracker v1.7.0\n\n", want: Version{1, 7, 0, ""}},
		{in: "Firecracker v1.10.1", want: Version{1, 10, 1, ""}},
		{in: "1.5.0", want: Version{1, 5, 0, ""}},
		{in: "v1.8.0-dev", want: Version{1, 8, 0, "dev"}},
		{in: "Firecracker v2.0.3-rc1 (build)", want: Version{2, 0, 3, "rc1"}},
		// qemu: the number after "version" wins over the package note;
		// a two-part version has patch 0.
		{in: "QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)\nCopyright (c) 2003-2022 Fabrice Bellard", want: Version{7, 2, 22, ""}},
		{in: "QEMU emulator version 8.2.2 (qemu-8.2.2-1.fc40)", want: Version{8, 2, 2, ""}},
		{in: "QEMU emulator version 9.0.0", want: Version{9, 0, 0, ""}},
		{in: "QEMU emulator version 6.2", want: Version{6, 2, 0, ""}},
		{in: "QEMU emulator version 7.2.90 (v8.0.0-rc0)", want: Version{7, 2, 90, ""}},
		{in: "note 1.2.3 then version 4.5.6", want: Version{4, 5, 6, ""}},
		{in: "version x then 4.5", want: Version{4, 5, 0, ""}},
		{in: "7.2.0", want: Version{7, 2, 0, ""}},
		{in: "v1.7", want: Version{1, 7, 0, ""}},
		// Not versions.
		{in: "Firecracker", wantErr: true},
		{in: "v1.x.0", wantErr: true},
		{in: "1", wantErr: true},
		{in: "1.2.3.4", wantErr: true},
		{in: "1..3", wantErr: true},
		{in: "+1.2.3", wantErr: true},
		{in: "1.+2.3", wantErr: true},
		{in: "1.-2.3", wantErr: true},
		{in: "no version here", wantErr: true},
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
	tests := []struct {
		v, min Version
		want   bool
	}{
		{Version{1, 5, 0, ""}, Version{1, 5, 0, ""}, true},
		{Version{1, 5, 1, ""}, Version{1, 5, 0, ""}, true},
		{Version{1, 7, 0, ""}, Version{1, 5, 0, ""}, true},
		{Version{2, 0, 0, ""}, Version{1, 5, 0, ""}, true},
		{Version{1, 4, 9, ""}, Version{1, 5, 0, ""}, false},
		{Version{0, 25, 0, ""}, Version{1, 5, 0, ""}, false},
		{Version{7, 2, 22, ""}, Version{6, 0, 0, ""}, true},
		{Version{5, 2, 9, ""}, Version{6, 0, 0, ""}, false},
		// A pre-release suffix takes no part in comparisons.
		{Version{1, 5, 0, "dev"}, Version{1, 5, 0, ""}, true},
		{Version{1, 4, 0, "rc1"}, Version{1, 5, 0, ""}, false},
	}
	for _, tc := range tests {
		if got := tc.v.AtLeast(tc.min); got != tc.want {
			t.Errorf("%v.AtLeast(%v) = %v, want %v", tc.v, tc.min, got, tc.want)
		}
	}
}

func TestVersionString(t *testing.T) {
	for v, want := range map[Version]string{
		{1, 8, 0, "dev"}: "1.8.0-dev",
		{6, 2, 0, ""}:    "6.2.0",
		{1, 10, 1, ""}:   "1.10.1",
	} {
		if got := v.String(); got != want {
			t.Errorf("%#v.String() = %q, want %q", v, got, want)
		}
	}
}
