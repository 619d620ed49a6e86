// Package names validates and generates VM names. A VM name is a single DNS
// label, so that "<name>.vm" resolves and the name can appear in host
// resource names. It is pure logic: it must not touch the host, the store or
// any other banger package except errdefs.
package names

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"unicode/utf8"

	"banger/internal/errdefs"
)

// MaxLen is the longest valid name: the limit of one DNS label.
const MaxLen = 63

// rule is the sentence every validation error ends with.
const rule = "use 1-63 lowercase letters, digits and '-', not starting or ending with '-'"

// maxShown bounds how much of a bad name is echoed back in an error.
const maxShown = 80

// Validate reports whether name is a valid VM name: a DNS label of 1-63
// characters from a-z, 0-9 and '-', neither starting nor ending with '-'.
// The error is InvalidArgument and says what is wrong and where.
func Validate(name string) error { return ValidateAs("VM", name) }

// ValidateAs is Validate for the name of another kind of thing (an image, a
// kernel); noun names it in the error.
func ValidateAs(noun, name string) error {
	invalid := func(name, what string) error { return invalidName(noun, name, what) }
	if name == "" {
		return invalid(name, "it is empty")
	}
	pos := 0
	for i, r := range name {
		pos++
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-':
			continue
		case r == utf8.RuneError && isInvalidUTF8(name[i:]):
			return invalid(name, fmt.Sprintf("byte %#02x at position %d is not valid UTF-8", name[i], pos))
		case r >= 'A' && r <= 'Z':
			return invalid(name, fmt.Sprintf("uppercase %q at position %d is not allowed (try %q)", r, pos, r+('a'-'A')))
		default:
			return invalid(name, fmt.Sprintf("character %q at position %d is not allowed", r, pos))
		}
	}
	if len(name) > MaxLen {
		return invalid(name, fmt.Sprintf("it is %d characters long", len(name)))
	}
	if name[0] == '-' {
		return invalid(name, "it starts with '-'")
	}
	if name[len(name)-1] == '-' {
		return invalid(name, "it ends with '-'")
	}
	return nil
}

// isInvalidUTF8 reports whether s starts with an invalid UTF-8 sequence
// (as opposed to a literal U+FFFD, which is valid but still not allowed).
func isInvalidUTF8(s string) bool {
	r, size := utf8.DecodeRuneInString(s)
	return r == utf8.RuneError && size <= 1
}

func invalidName(noun, name, what string) error {
	shown := name
	if len(shown) > maxShown {
		shown = shown[:maxShown] + "..."
	}
	return errdefs.InvalidArgumentf("invalid %s name %q: %s; %s", noun, shown, what, rule)
}

// baseTries is how many random adjective-noun pairs Generate tries before
// it falls back to numeric suffixes on the last one.
const baseTries = 4

// Generate returns a readable name of the form "adjective-noun" (for example
// "brave-otter") for which taken reports false. When the pairs it tries are
// taken it appends a numeric suffix ("brave-otter-2", "brave-otter-3", …).
// The result is always a valid name. taken may be nil; it must report false
// for all but finitely many names, or Generate does not return.
func Generate(taken func(string) bool) string {
	if taken == nil {
		taken = func(string) bool { return false }
	}
	var base string
	for range baseTries {
		base = adjectives[rand.IntN(len(adjectives))] + "-" + nouns[rand.IntN(len(nouns))]
		if !taken(base) {
			return base
		}
	}
	for n := 2; ; n++ {
		name := base + "-" + strconv.Itoa(n)
		if !taken(name) {
			return name
		}
	}
}
