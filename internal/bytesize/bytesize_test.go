package bytesize

import (
	"math"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in   string
		want int64
	}{
		{"0", 0},
		{"1048576", 1048576},
		{"100B", 100},
		{"100b", 100},
		{"512MiB", 512 * MiB},
		{"512M", 512 * MiB},
		{"512m", 512 * MiB},
		{"512mib", 512 * MiB},
		{"512MB", 512 * MiB},
		{"2GiB", 2 * GiB},
		{"2G", 2 * GiB},
		{"2gb", 2 * GiB},
		{"1.5G", GiB + GiB/2},
		{"1.25GiB", GiB + GiB/4},
		{"0.5K", 512},
		{"1.3K", 1331}, // 1331.2 rounded down
		{"4KiB", 4 * KiB},
		{"1T", TiB},
		{"2TiB", 2 * TiB},
		{"  8GiB\t", 8 * GiB},
		{"8 GiB", 8 * GiB},
		{"007M", 7 * MiB},
		{"9223372036854775807", math.MaxInt64},
		{"8388607TiB", 8388607 * TiB},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.in, err)
			continue
		}
		if got != tt.want {
			t.Errorf("Parse(%q) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		in   string
		want string // the whole message
	}{
		{"2X", `invalid size "2X": unknown unit "X": use a number with an optional unit, e.g. 512MiB or 2G`},
		{"", `invalid size "": the size is empty: use a number with an optional unit, e.g. 512MiB or 2G`},
		{"   ", `invalid size "   ": the size is empty: use a number with an optional unit, e.g. 512MiB or 2G`},
		{"-1G", `invalid size "-1G": a size cannot be negative: use a number with an optional unit, e.g. 512MiB or 2G`},
		{"GiB", `invalid size "GiB": use a number with an optional unit, e.g. 512MiB or 2G`},
		{"1.5", `invalid size "1.5": a number of bytes must be whole: use a number with an optional unit, e.g. 512MiB or 2G`},
		{"9223372036854775808", `invalid size "9223372036854775808": too large: the largest size is 9223372036854775807 bytes (about 8 EiB)`},
		{"8388608TiB", `invalid size "8388608TiB": too large: the largest size is 9223372036854775807 bytes (about 8 EiB)`},
	}
	for _, tt := range tests {
		_, err := Parse(tt.in)
		if err == nil {
			t.Errorf("Parse(%q) succeeded, want error %q", tt.in, tt.want)
			continue
		}
		if got := err.Error(); got != tt.want {
			t.Errorf("Parse(%q) error:\n got %s\nwant %s", tt.in, got, tt.want)
		}
	}
}

func TestParseRejects(t *testing.T) {
	for _, in := range []string{
		"1.", ".5G", "1..5G", "1.5.5G", "+1G", "1e3", "0x10", "1_000", "1/2G", "1 2G",
		"1GiBs", "1PiB", "1iB", "1 G B", "NaN", "Inf", "G1", "1,5G", "½G",
	} {
		if got, err := Parse(in); err == nil {
			t.Errorf("Parse(%q) = %d, want an error", in, got)
		} else if !strings.HasPrefix(err.Error(), "invalid size ") {
			t.Errorf("Parse(%q) error %q does not start with \"invalid size\"", in, err)
		}
	}
}

func TestFormat(t *testing.T) {
	tests := []struct {
		in   int64
		want string
	}{
		{0, "0B"},
		{1, "1B"},
		{100, "100B"},
		{1023, "1023B"},
		{1024, "1KiB"},
		{1025, "1025B"},
		{1536, "1.5KiB"},
		{9999, "9999B"},
		{12345, "12.05KiB"}, // 12.0556KiB rounded down: no exact short form
		{512 * MiB, "512MiB"},
		{GiB, "1GiB"},
		{GiB + GiB/2, "1.5GiB"},
		{GiB + GiB/4, "1.25GiB"},
		{GiB + MiB, "1025MiB"},
		{GiB + 1, "1GiB"},
		{10001 * MiB, "10001MiB"},
		{2 * TiB, "2TiB"},
		{1 << 50, "1024TiB"},
		{math.MaxInt64, "8388607.99TiB"},
		{-512 * MiB, "-512MiB"},
		{math.MinInt64, "-8388608TiB"},
	}
	for _, tt := range tests {
		if got := Format(tt.in); got != tt.want {
			t.Errorf("Format(%d) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestFormatRoundTripsWholeUnits(t *testing.T) {
	for _, unit := range []int64{B, KiB, MiB, GiB, TiB} {
		for _, k := range []int64{0, 1, 2, 3, 7, 100, 1000, 1023, 1024, 1025, 4097, 10001, 123457} {
			n := k * unit
			if unit == B {
				n *= KiB // whole KiB only: long byte counts are rounded for people
			}
			got, err := Parse(Format(n))
			if err != nil {
				t.Errorf("Parse(Format(%d) = %q): %v", n, Format(n), err)
				continue
			}
			if got != n {
				t.Errorf("Parse(Format(%d) = %q) = %d", n, Format(n), got)
			}
		}
	}
}

// checkFormat asserts the properties Format and MarshalText promise for n.
func checkFormat(t *testing.T, n int64) {
	t.Helper()
	f := Format(n)
	got, err := Parse(f)
	if err != nil {
		t.Fatalf("Parse(Format(%d) = %q): %v", n, f, err)
	}
	if got > n {
		t.Fatalf("Parse(Format(%d) = %q) = %d: Format overstates", n, f, got)
	}
	if n%KiB == 0 && got != n {
		t.Fatalf("Parse(Format(%d) = %q) = %d: whole KiB must round-trip", n, f, got)
	}
	text, err := Size(n).MarshalText()
	if err != nil {
		t.Fatalf("Size(%d).MarshalText: %v", n, err)
	}
	var s Size
	if err := s.UnmarshalText(text); err != nil {
		t.Fatalf("UnmarshalText(%q): %v", text, err)
	}
	if int64(s) != n {
		t.Fatalf("UnmarshalText(MarshalText(%d) = %q) = %d", n, text, int64(s))
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"512MiB", "2G", "1.5GiB", "1048576", "2X", "", "-1", "9223372036854775807",
		"8388608TiB", "0.0000001T", "1." + strings.Repeat("9", 40) + "T", " 3 kb ",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := Parse(s)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "invalid size ") {
				t.Fatalf("Parse(%q) error %q does not start with \"invalid size\"", s, err)
			}
			return
		}
		if n < 0 {
			t.Fatalf("Parse(%q) = %d, negative", s, n)
		}
		checkFormat(t, n)
	})
}

func FuzzFormat(f *testing.F) {
	for _, n := range []int64{0, 1, 1023, 1024, 12345, GiB + 1, 512 * MiB, math.MaxInt64} {
		f.Add(n)
	}
	f.Fuzz(func(t *testing.T, n int64) {
		if n < 0 {
			n = -(n + 1)
		}
		checkFormat(t, n)
		for _, unit := range []int64{KiB, MiB, GiB, TiB} {
			if w := (n / unit) * unit; w >= 0 {
				checkFormat(t, w)
			}
		}
	})
}
