// Package bytesize parses and formats byte sizes the way people write them
// in config files and on the command line ("512MiB", "2G", "1.5GiB").
// Units are binary (K, M, G and T mean KiB, MiB, GiB and TiB, as in Docker
// and qemu). It owns only the text form of sizes: it must not know what a
// size is used for, and it imports nothing but the standard library.
package bytesize

import (
	"fmt"
	"math/big"
	"strings"
)

// The binary units, in bytes.
const (
	B   int64 = 1
	KiB int64 = 1 << 10
	MiB int64 = 1 << 20
	GiB int64 = 1 << 30
	TiB int64 = 1 << 40
)

// hint ends every parse error: it tells a person what a size looks like.
const hint = "use a number with an optional unit, e.g. 512MiB or 2G"

// unitSizes maps every accepted unit spelling (lower case) to its size. "KB"
// and friends are binary too, as in Docker: a size in banger is never decimal.
var unitSizes = map[string]int64{
	"": B, "b": B,
	"k": KiB, "kb": KiB, "kib": KiB,
	"m": MiB, "mb": MiB, "mib": MiB,
	"g": GiB, "gb": GiB, "gib": GiB,
	"t": TiB, "tb": TiB, "tib": TiB,
}

// Parse returns the number of bytes s stands for. s is a non-negative
// decimal number, optionally with a fraction, followed by an optional unit:
// B, K, M, G or T, each optionally followed by "iB" or "B", in any case
// ("512MiB", "512m", "1.5G", "1048576"). Surrounding whitespace and spaces
// between the number and the unit are ignored. A fraction that does not come
// to a whole number of bytes is rounded down; a fraction of a byte is an
// error.
func Parse(s string) (int64, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, fmt.Errorf("invalid size %q: the size is empty: %s", s, hint)
	}
	if strings.HasPrefix(t, "-") {
		return 0, fmt.Errorf("invalid size %q: a size cannot be negative: %s", s, hint)
	}
	num, unit, ok := split(t)
	if !ok {
		return 0, fmt.Errorf("invalid size %q: %s", s, hint)
	}
	size, ok := unitSizes[strings.ToLower(unit)]
	if !ok {
		return 0, fmt.Errorf("invalid size %q: unknown unit %q: %s", s, unit, hint)
	}
	r, ok := new(big.Rat).SetString(num)
	if !ok {
		return 0, fmt.Errorf("invalid size %q: %s", s, hint)
	}
	r.Mul(r, new(big.Rat).SetInt64(size))
	if size == B && !r.IsInt() {
		return 0, fmt.Errorf("invalid size %q: a number of bytes must be whole: %s", s, hint)
	}
	n := new(big.Int).Quo(r.Num(), r.Denom())
	if !n.IsInt64() {
		return 0, fmt.Errorf("invalid size %q: too large: the largest size is %d bytes (about 8 EiB)", s, int64(^uint64(0)>>1))
	}
	return n.Int64(), nil
}

// split cuts t into its number (digits, optionally a dot and more digits)
// and its unit (what follows, after optional spaces). ok is false when t
// does not start with a well-formed number.
func split(t string) (num, unit string, ok bool) {
	i := digits(t, 0)
	if i == 0 {
		return "", "", false
	}
	if i < len(t) && t[i] == '.' {
		j := digits(t, i+1)
		if j == i+1 {
			return "", "", false
		}
		i = j
	}
	return t[:i], strings.TrimLeft(t[i:], " \t"), true
}

// digits returns the index of the first non-digit in t at or after i.
func digits(t string, i int) int {
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	return i
}

// units are the named units Format uses, largest first.
var units = []struct {
	name string
	size uint64
}{
	{"TiB", uint64(TiB)},
	{"GiB", uint64(GiB)},
	{"MiB", uint64(MiB)},
	{"KiB", uint64(KiB)},
	{"B", uint64(B)},
}

// Format returns a short human form of n: the largest unit that shows n
// exactly with at most two decimals ("1GiB", "512MiB", "1.5GiB", "100B").
// When n is not a whole number of KiB and would need a long byte count, it
// is shown in the largest unit that fits, rounded down to two decimals
// ("12.05KiB" for 12345). Parse(Format(n)) == n for every n that is a
// whole number of KiB, and Parse(Format(n)) <= n always holds for n >= 0.
func Format(n int64) string {
	u, sign := magnitude(n)
	if s, unit, ok := exact(u); ok && (unit != "B" || u < 10000) {
		return sign + s
	}
	for _, un := range units {
		if u >= un.size {
			q, r := u/un.size, u%un.size
			// r < 2^40, so r*100 cannot overflow.
			return sign + decimal(q, r*100/un.size) + un.name
		}
	}
	return "0B"
}

// exactString is Format without rounding: the largest unit that shows n
// exactly with at most two decimals, falling back to bytes. Parse always
// returns n for it.
func exactString(n int64) string {
	u, sign := magnitude(n)
	s, _, _ := exact(u)
	return sign + s
}

// exact returns u in the largest unit that shows it exactly with at most two
// decimals, and that unit's name.
func exact(u uint64) (s, unit string, ok bool) {
	for _, un := range units {
		if u < un.size && un.size != 1 {
			continue
		}
		q, r := u/un.size, u%un.size
		if (r*100)%un.size == 0 {
			return decimal(q, r*100/un.size) + un.name, un.name, true
		}
	}
	return "", "", false // unreachable: every u is exact in bytes
}

// magnitude returns |n| as a uint64 (exact even for math.MinInt64) and the
// sign to print before it.
func magnitude(n int64) (uint64, string) {
	if n < 0 {
		return -uint64(n), "-"
	}
	return uint64(n), ""
}

// decimal renders q plus hundredths h (0..99) without trailing zeros.
func decimal(q, h uint64) string {
	switch {
	case h == 0:
		return fmt.Sprintf("%d", q)
	case h%10 == 0:
		return fmt.Sprintf("%d.%d", q, h/10)
	default:
		return fmt.Sprintf("%d.%02d", q, h)
	}
}
