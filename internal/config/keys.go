package config

import (
	"fmt"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"
)

// field is one setting of the config file.
type field struct {
	key  string              // TOML key path, e.g. "vm.vcpus"
	want string              // what a value must look like, for type errors
	ptr  func(c *Config) any // where the decoded value goes
}

const (
	wantString   = "must be a string"
	wantInteger  = "must be a whole number"
	wantSize     = `must be a size such as "512MiB" or "2GiB"`
	wantDuration = `must be a duration such as "10s" or "1m30s"`
	wantBool     = "must be true or false"
	wantStrings  = `must be a list of strings such as ["192.0.2.53:53"]`
)

// fields lists every setting, in the order problems are reported.
var fields = []field{
	{"log_level", wantString, func(c *Config) any { return &c.LogLevel }},
	{"vmm.driver", wantString, func(c *Config) any { return &c.VMM.Driver }},
	{"vmm.firecracker_bin", wantString, func(c *Config) any { return &c.VMM.FirecrackerBin }},
	{"vmm.qemu_bin", wantString, func(c *Config) any { return &c.VMM.QemuBin }},
	{"vmm.stop_timeout", wantDuration, func(c *Config) any { return &c.VMM.StopTimeout }},
	{"vmm.tcg_aslr", wantBool, func(c *Config) any { return &c.VMM.TCGASLR }},
	{"vm.vcpus", wantInteger, func(c *Config) any { return &c.VM.VCPUs }},
	{"vm.memory", wantSize, func(c *Config) any { return &c.VM.Memory }},
	{"vm.disk_size", wantSize, func(c *Config) any { return &c.VM.DiskSize }},
	{"vm.image", wantString, func(c *Config) any { return &c.VM.Image }},
	{"vm.disk_strategy", wantString, func(c *Config) any { return &c.VM.DiskStrategy }},
	{"vm.warm_start", wantBool, func(c *Config) any { return &c.VM.WarmStart }},
	{"network.enabled", wantBool, func(c *Config) any { return &c.Network.Enabled }},
	{"network.bridge", wantString, func(c *Config) any { return &c.Network.Bridge }},
	{"network.subnet", wantString, func(c *Config) any { return &c.Network.Subnet }},
	{"network.nat", wantBool, func(c *Config) any { return &c.Network.NAT }},
	{"network.tap_pool", wantInteger, func(c *Config) any { return &c.Network.TapPool }},
	{"network.helper_socket", wantString, func(c *Config) any { return &c.Network.HelperSocket }},
	{"dns.domain", wantString, func(c *Config) any { return &c.DNS.Domain }},
	{"dns.listen", wantString, func(c *Config) any { return &c.DNS.Listen }},
	{"dns.upstreams", wantStrings, func(c *Config) any { return &c.DNS.Upstreams }},
	{"dns.resolved", wantBool, func(c *Config) any { return &c.DNS.Resolved }},
}

// tables lists the config file's tables.
var tables = []string{"vmm", "vm", "network", "dns"}

// fieldOrder returns the position of key's field in fields, for sorting
// problems; a table sorts with its first field.
func fieldOrder(key string) int {
	for i, f := range fields {
		if f.key == key || strings.HasPrefix(f.key, key+".") {
			return i
		}
	}
	return len(fields)
}

// splitKey cuts a key path into its table ("" for the top level) and name.
func splitKey(key string) (table, name string) {
	if i := strings.LastIndexByte(key, '.'); i >= 0 {
		return key[:i], key[i+1:]
	}
	return "", key
}

// unknownKeys reports every key in keys (in document order) that is not a
// setting or a table, once: keys below an unknown key or below a setting
// (a setting written as a table is a type error) are not repeated.
func unknownKeys(keys []toml.Key) []problem {
	known := map[string]bool{}
	for _, t := range tables {
		known[t] = true
	}
	settings := map[string]bool{}
	for _, f := range fields {
		known[f.key] = true
		settings[f.key] = true
	}
	reported := map[string]bool{}
	var probs []problem
	for i, k := range keys {
		name := k.String()
		if known[name] || below(k, settings) || below(k, reported) {
			continue
		}
		reported[name] = true
		msg := name + ": unknown key"
		if s := suggest(k); s != "" {
			msg += " (did you mean " + s + "?)"
		}
		probs = append(probs, problem{key: name, order: len(fields) + i, msg: msg})
	}
	return probs
}

// below reports whether a strict prefix of k is in set.
func below(k toml.Key, set map[string]bool) bool {
	for n := 1; n < len(k); n++ {
		if set[k[:n].String()] {
			return true
		}
	}
	return false
}

// suggest returns the known key or table most like the unknown key k, or ""
// when none is close. It compares the last part of the keys, preferring
// candidates in the same table: "vm.cpus" suggests vm.vcpus, "memory"
// suggests vm.memory.
func suggest(k toml.Key) string {
	leaf := strings.ToLower(k[len(k)-1])
	parent := strings.ToLower(k[:len(k)-1].String())
	candidates := slices.Clone(tables)
	for _, f := range fields {
		candidates = append(candidates, f.key)
	}
	best, bestScore := "", -1
	for _, c := range candidates {
		ct, cn := splitKey(c)
		score, ok := closeness(leaf, cn)
		if !ok {
			continue
		}
		if ct != parent {
			score++
		}
		if bestScore < 0 || score < bestScore {
			best, bestScore = c, score
		}
	}
	return best
}

// closeness scores how alike two key names are (lower is closer); ok is
// false when they are not alike enough to suggest one for the other.
func closeness(a, b string) (score int, ok bool) {
	if d := levenshtein(a, b); d <= max(1, len(a)/3) {
		return d, true
	}
	shorter, longer := a, b
	if len(shorter) > len(longer) {
		shorter, longer = longer, shorter
	}
	if len(shorter) >= 3 && strings.Contains(longer, shorter) {
		return 2, true
	}
	return 0, false
}

// levenshtein returns the edit distance between a and b, in bytes.
func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// maxShown is how much of a bad value an error message shows.
const maxShown = 60

// render shows a raw TOML value as it would appear in the file, shortened
// to maxShown characters.
func render(v any) string {
	s := renderFull(v)
	if r := []rune(s); len(r) > maxShown {
		return string(r[:maxShown-1]) + "…"
	}
	return s
}

func renderFull(v any) string {
	switch v := v.(type) {
	case string:
		return fmt.Sprintf("%q", v)
	case []any:
		parts := make([]string, len(v))
		for i, e := range v {
			parts[i] = renderFull(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case []map[string]any:
		parts := make([]string, len(v))
		for i, e := range v {
			parts[i] = renderFull(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case map[string]any:
		names := make([]string, 0, len(v))
		for n := range v {
			names = append(names, n)
		}
		slices.Sort(names)
		parts := make([]string, len(names))
		for i, n := range names {
			parts[i] = toml.Key{n}.String() + " = " + renderFull(v[n])
		}
		return "{" + strings.Join(parts, ", ") + "}"
	default:
		return fmt.Sprint(v)
	}
}
