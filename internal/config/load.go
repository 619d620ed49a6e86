package config

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/BurntSushi/toml"

	"banger/internal/bytesize"
	"banger/internal/errdefs"
	"banger/internal/userfile"
)

// MaxFileSize bounds the config file: a few KiB is plenty, and a path that
// names a huge file must not fill the daemon's memory.
const MaxFileSize = bytesize.MiB

// Load returns the configuration in the TOML file at path: the defaults
// for host h, overlaid with what the file sets, validated. A missing file
// gives the defaults. Every problem with the file (a syntax error with its
// line, a value of the wrong type, an unknown key, a value out of range) is
// reported at once in an *Error classified errdefs.InvalidArgument.
func Load(path string, h Host) (Config, error) {
	c := Defaults(h)
	data, err := userfile.ReadFile(path, MaxFileSize)
	if errors.Is(err, fs.ErrNotExist) {
		if err := newError(path, c.problems(h, nil)); err != nil {
			return Config{}, err
		}
		return c, nil
	}
	if err != nil {
		return Config{}, errdefs.FailedPreconditionf("read config: %w: make %s a readable regular file of at most %s, or remove it to use the defaults", err, path, bytesize.Format(MaxFileSize))
	}
	probs := decode(data, &c)
	bad := map[string]bool{}
	for _, p := range probs {
		bad[p.key] = true
	}
	if bad[""] { // a syntax error: nothing was decoded
		return Config{}, newError(path, probs)
	}
	probs = append(probs, c.problems(h, bad)...)
	if err := newError(path, probs); err != nil {
		return Config{}, err
	}
	return c, nil
}

// decode overlays the TOML document data onto c, setting only the keys the
// document has, and returns every problem: a syntax error (key ""), values
// of the wrong type, unknown keys.
func decode(data []byte, c *Config) []problem {
	var doc map[string]toml.Primitive
	md, err := toml.Decode(string(data), &doc)
	if err != nil {
		msg := err.Error()
		var pe toml.ParseError
		if errors.As(err, &pe) {
			msg = fmt.Sprintf("line %d: %s", pe.Position.Line, strings.TrimSuffix(pe.Message, "."))
		}
		return []problem{{key: "", msg: msg + ": fix the TOML syntax"}}
	}

	var probs []problem
	typeError := func(key string, p toml.Primitive, want string) {
		var raw any
		_ = md.PrimitiveDecode(p, &raw) // decoding into any cannot fail
		probs = append(probs, problem{
			key:   key,
			order: fieldOrder(key),
			msg:   fmt.Sprintf("%s = %s: %s", key, render(raw), want),
		})
	}

	sections := map[string]map[string]toml.Primitive{"": doc}
	for _, t := range tables {
		p, ok := doc[t]
		if !ok {
			continue
		}
		// Decoding a non-table into a map succeeds with an empty map, so
		// check the raw value's type first.
		var raw any
		_ = md.PrimitiveDecode(p, &raw)
		var m map[string]toml.Primitive
		if _, isTable := raw.(map[string]any); !isTable || md.PrimitiveDecode(p, &m) != nil {
			typeError(t, p, fmt.Sprintf("must be a table, written [%s]", t))
			continue
		}
		sections[t] = m
	}
	for _, f := range fields {
		table, name := splitKey(f.key)
		p, ok := sections[table][name]
		if !ok {
			continue
		}
		if err := md.PrimitiveDecode(p, f.ptr(c)); err != nil {
			typeError(f.key, p, f.want)
		}
	}
	return append(probs, unknownKeys(md.Keys())...)
}
