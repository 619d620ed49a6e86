package bytesize

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSizeText(t *testing.T) {
	type doc struct {
		Memory Size `json:"memory"`
	}
	tests := []struct {
		in       string
		want     Size
		wantJSON string
	}{
		{`{"memory":"2GiB"}`, Size(2 * GiB), `{"memory":"2GiB"}`},
		{`{"memory":"512m"}`, Size(512 * MiB), `{"memory":"512MiB"}`},
		{`{"memory":"1.5G"}`, Size(GiB + GiB/2), `{"memory":"1.5GiB"}`},
		{`{"memory":"1073741825"}`, Size(GiB + 1), `{"memory":"1073741825B"}`},
		{`{"memory":"12345"}`, Size(12345), `{"memory":"12345B"}`},
		{`{"memory":"0"}`, Size(0), `{"memory":"0B"}`},
	}
	for _, tt := range tests {
		var got doc
		if err := json.Unmarshal([]byte(tt.in), &got); err != nil {
			t.Errorf("Unmarshal(%s): %v", tt.in, err)
			continue
		}
		if diff := cmp.Diff(doc{Memory: tt.want}, got); diff != "" {
			t.Errorf("Unmarshal(%s) mismatch (-want +got):\n%s", tt.in, diff)
		}
		out, err := json.Marshal(got)
		if err != nil {
			t.Errorf("Marshal(%v): %v", got, err)
			continue
		}
		if string(out) != tt.wantJSON {
			t.Errorf("Marshal(%v) = %s, want %s", got, out, tt.wantJSON)
		}
	}
}

func TestSizeUnmarshalTextError(t *testing.T) {
	s := Size(7)
	err := s.UnmarshalText([]byte("2X"))
	if err == nil {
		t.Fatal("UnmarshalText(2X) succeeded, want an error")
	}
	if s != 7 {
		t.Errorf("failed UnmarshalText changed the size to %d", s)
	}
}

func TestSizeMarshalTextNegative(t *testing.T) {
	if got, err := Size(-1).MarshalText(); err == nil {
		t.Errorf("Size(-1).MarshalText() = %q, want an error", got)
	}
}

func TestSizeString(t *testing.T) {
	if got, want := Size(GiB+GiB/2).String(), "1.5GiB"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if got, want := Size(3*MiB).Bytes(), 3*MiB; got != want {
		t.Errorf("Bytes() = %d, want %d", got, want)
	}
}
