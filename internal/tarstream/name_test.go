package tarstream

import "testing"

func TestEntryName(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"a/b", "a/b", true},
		{"./a//b/", "a/b", true},
		{"./", ".", true},
		{"../a", "", false},
		{"a/../b", "", false},
		{"/etc/passwd", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		got, err := EntryName(tt.in)
		if got != tt.want || (err == nil) != tt.ok {
			t.Errorf("EntryName(%q) = %q, %v; want %q, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}
