package bytesize

import (
	"errors"
	"fmt"
)

// errNegative is returned when a negative Size is marshalled: its text form
// would not parse back.
var errNegative = errors.New("a size cannot be negative")

// Size is a number of bytes that reads and writes itself as text, so a
// config file or a JSON document can say "2GiB". A bare integer in the text
// is a number of bytes.
type Size int64

// Bytes returns s as a plain number of bytes.
func (s Size) Bytes() int64 { return int64(s) }

// String returns the short human form of s (see Format).
func (s Size) String() string { return Format(int64(s)) }

// MarshalText writes s in the largest unit that shows it exactly, so that
// UnmarshalText reads back the same number of bytes.
func (s Size) MarshalText() ([]byte, error) {
	if s < 0 {
		return nil, fmt.Errorf("marshal size %d: %w", int64(s), errNegative)
	}
	return []byte(exactString(int64(s))), nil
}

// UnmarshalText parses text with Parse.
func (s *Size) UnmarshalText(text []byte) error {
	n, err := Parse(string(text))
	if err != nil {
		return err
	}
	*s = Size(n)
	return nil
}
