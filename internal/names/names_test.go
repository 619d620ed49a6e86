package names

import (
	"strings"
	"testing"

	"banger/internal/errdefs"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		ok      bool
		mention string // a fragment the error must contain
	}{
		{"a", true, ""},
		{"brave-otter", true, ""},
		{"web-2", true, ""},
		{"0", true, ""},
		{"123", true, ""},
		{"a--b", true, ""},
		{strings.Repeat("a", 63), true, ""},
		{strings.Repeat("a", 62) + "9", true, ""},
		{"", false, "it is empty"},
		{strings.Repeat("a", 64), false, "64 characters long"},
		{strings.Repeat("a", 300), false, "300 characters long"},
		{"-web", false, "starts with '-'"},
		{"web-", false, "ends with '-'"},
		{"-", false, "starts with '-'"},
		{"Foo", false, "uppercase 'F' at position 1"},
		{"fOo", false, "uppercase 'O' at position 2 is not allowed (try 'o')"},
		{"web.vm", false, "character '.' at position 4"},
		{"my_vm", false, "character '_' at position 3"},
		{"my vm", false, "character ' ' at position 3"},
		{"café", false, "character 'é' at position 4"},
		{"ötter", false, "character 'ö' at position 1"},
		{"a\nb", false, `"a\nb"`},
		{"a\x00b", false, `character '\x00' at position 2`},
		{"a\xffb", false, "byte 0xff at position 2 is not valid UTF-8"},
		{"a\uFFFDb", false, "character '�' at position 2"},
	}
	for _, tt := range tests {
		err := Validate(tt.name)
		if tt.ok {
			if err != nil {
				t.Errorf("Validate(%q) = %v, want nil", tt.name, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("Validate(%q) = nil, want an error mentioning %q", tt.name, tt.mention)
			continue
		}
		if got, want := errdefs.KindOf(err), errdefs.InvalidArgument; got != want {
			t.Errorf("Validate(%q) kind = %q, want %q", tt.name, got, want)
		}
		msg := err.Error()
		if !strings.Contains(msg, tt.mention) {
			t.Errorf("Validate(%q) = %q, want it to mention %q", tt.name, msg, tt.mention)
		}
		if !strings.HasSuffix(msg, rule) {
			t.Errorf("Validate(%q) = %q, want it to end with the rule %q", tt.name, msg, rule)
		}
	}
}

func TestValidateMessage(t *testing.T) {
	got := Validate("Foo").Error()
	want := `invalid VM name "Foo": uppercase 'F' at position 1 is not allowed (try 'f'); use 1-63 lowercase letters, digits and '-', not starting or ending with '-'`
	if got != want {
		t.Errorf("Validate(\"Foo\") =\n%s\nwant\n%s", got, want)
	}
}

func TestValidateLongNameIsShortened(t *testing.T) {
	err := Validate(strings.Repeat("x", 10000))
	if got, max := len(err.Error()), 300; got > max {
		t.Errorf("error for a 10000-character name is %d bytes, want at most %d", got, max)
	}
}

func TestWordLists(t *testing.T) {
	for _, list := range []struct {
		name  string
		words []string
	}{{"adjectives", adjectives}, {"nouns", nouns}} {
		if got, want := len(list.words), 50; got < want {
			t.Errorf("%s has %d words, want at least %d", list.name, got, want)
		}
		seen := map[string]bool{}
		for _, w := range list.words {
			if seen[w] {
				t.Errorf("%s: duplicate word %q", list.name, w)
			}
			seen[w] = true
			if len(w) < 3 || len(w) > 8 || strings.Trim(w, "abcdefghijklmnopqrstuvwxyz") != "" {
				t.Errorf("%s: word %q is not 3-8 lowercase ASCII letters", list.name, w)
			}
		}
	}
}

func TestGenerateValid(t *testing.T) {
	for range 1000 {
		name := Generate(nil)
		if err := Validate(name); err != nil {
			t.Fatalf("Generate(nil) = %q, invalid: %v", name, err)
		}
		if strings.Count(name, "-") != 1 {
			t.Fatalf("Generate(nil) = %q, want adjective-noun", name)
		}
	}
}

func TestGenerateUnique(t *testing.T) {
	taken := map[string]bool{}
	isTaken := func(s string) bool { return taken[s] }
	suffixed := 0
	for i := range 1000 {
		name := Generate(isTaken)
		if err := Validate(name); err != nil {
			t.Fatalf("call %d: Generate = %q, invalid: %v", i, name, err)
		}
		if taken[name] {
			t.Fatalf("call %d: Generate = %q, which is taken", i, name)
		}
		if strings.Count(name, "-") == 2 {
			suffixed++
		}
		taken[name] = true
	}
	t.Logf("1000 names, %d with a numeric suffix", suffixed)
}

func TestGenerateSuffix(t *testing.T) {
	// Every plain pair and the first suffixes are taken: the result must be
	// the first free suffix of some pair.
	isTaken := func(s string) bool {
		return strings.Count(s, "-") == 1 || strings.HasSuffix(s, "-2") || strings.HasSuffix(s, "-3")
	}
	name := Generate(isTaken)
	if !strings.HasSuffix(name, "-4") {
		t.Errorf("Generate = %q, want a name ending in -4", name)
	}
	if err := Validate(name); err != nil {
		t.Errorf("Generate = %q, invalid: %v", name, err)
	}
}

func FuzzValidate(f *testing.F) {
	for _, s := range []string{"", "a", "brave-otter", "-a", "a-", "Foo", "a.b", "é", "\xff", strings.Repeat("a", 64)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := Validate(s)
		if got, want := err == nil, isLabel(s); got != want {
			t.Fatalf("Validate(%q) = %v, but reference check says valid=%v", s, err, want)
		}
		if err != nil && errdefs.KindOf(err) != errdefs.InvalidArgument {
			t.Fatalf("Validate(%q) kind = %q, want invalid_argument", s, errdefs.KindOf(err))
		}
	})
}

// isLabel is an independent reference implementation of the rule.
func isLabel(s string) bool {
	if len(s) < 1 || len(s) > 63 || strings.HasPrefix(s, "-") || strings.HasSuffix(s, "-") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}
