package bootstrap

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/BurntSushi/toml"
)

// MaxFileSize bounds a declaration file: a larger one is ignored with a
// warning (callers read at most MaxFileSize+1 bytes of it).
const MaxFileSize = 64 << 10

// maxTools bounds the tools of one plan.
const maxTools = 64

// Tool is one tool version a repository declares.
type Tool struct {
	Name    string `json:"name"`    // normalised: go, node, python, ...
	Version string `json:"version"` // as declared, e.g. 1.22.1, 20, lts
	Source  string `json:"source"`  // the file that declared it
	Line    int    `json:"line,omitempty"`
}

func (t Tool) String() string { return t.Name + " " + t.Version }

// warning is a problem in one file, at one line when known.
type warning struct {
	file string
	line int
	msg  string
}

func (w warning) String() string {
	if w.line > 0 {
		return fmt.Sprintf("%s:%d: %s", w.file, w.line, w.msg)
	}
	return w.file + ": " + w.msg
}

var (
	namePattern    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+:/@-]{0,63}$`)
	versionPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+:/~-]{0,63}$`)
	goVersion      = regexp.MustCompile(`^1(\.(0|[1-9][0-9]*)){1,2}((rc|beta)[1-9][0-9]*)?$`)
)

// aliases maps the other names of a tool to mise's.
var aliases = map[string]string{"golang": "go", "nodejs": "node"}

// normalise returns the tool's canonical name.
func normalise(name string) string {
	if n, ok := aliases[strings.ToLower(name)]; ok {
		return n
	}
	return name
}

// checkTool validates a declared name and version; the message says what
// is wrong when they are not usable.
func checkTool(name, version string) string {
	switch {
	case !namePattern.MatchString(name):
		return fmt.Sprintf("tool name %q: use letters, digits and . _ + : / @ - (at most 64)", clip(name))
	case !versionPattern.MatchString(version):
		return fmt.Sprintf("%s version %q: use letters, digits and . _ + : / ~ - (at most 64), starting with a letter or digit", name, clip(version))
	}
	return ""
}

// clip shortens s for a message.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// lines splits data into lines without their line ends.
func lines(data []byte) []string {
	ls := strings.Split(string(data), "\n")
	for i, l := range ls {
		ls[i] = strings.TrimSuffix(l, "\r")
	}
	return ls
}

// stripHash drops a # comment and surrounding space.
func stripHash(l string) string {
	if i := strings.IndexByte(l, '#'); i >= 0 {
		l = l[:i]
	}
	return strings.TrimSpace(l)
}

// parseToolVersions reads asdf's .tool-versions: "NAME VERSION..." lines
// and # comments. Only a tool's first version is installed.
func parseToolVersions(file string, data []byte) ([]Tool, []warning) {
	var (
		tools []Tool
		warns []warning
		seen  = map[string]int{}
	)
	for i, l := range lines(data) {
		n := i + 1
		f := strings.Fields(stripHash(l))
		if len(f) == 0 {
			continue
		}
		if len(f) == 1 {
			warns = append(warns, warning{file, n, fmt.Sprintf("%q has no version: write NAME VERSION, e.g. go 1.22.1", clip(f[0]))})
			continue
		}
		name, version := normalise(f[0]), f[1]
		if msg := checkTool(name, version); msg != "" {
			warns = append(warns, warning{file, n, msg})
			continue
		}
		if first, ok := seen[name]; ok {
			warns = append(warns, warning{file, n, fmt.Sprintf("%s declared again: line %d's version is used", name, first)})
			continue
		}
		seen[name] = n
		if len(f) > 2 {
			warns = append(warns, warning{file, n, fmt.Sprintf("%s: only the first version (%s) is installed; %s ignored", name, version, strings.Join(f[2:], " "))})
		}
		if version == "system" {
			warns = append(warns, warning{file, n, fmt.Sprintf("%s system: the image's own %s is used; nothing to install", name, name)})
			continue
		}
		tools = append(tools, Tool{Name: name, Version: version, Source: file, Line: n})
	}
	return tools, warns
}

// parseMise reads the [tools] table of a mise configuration file. A
// tool's value is a version string, an array whose first entry is used,
// or a table with a version key. ok is false when the file is not TOML.
func parseMise(file string, data []byte) ([]Tool, []warning, bool) {
	var doc map[string]any
	md, err := toml.Decode(string(data), &doc)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, []warning{{file, pe.Position.Line, "not valid TOML (" + pe.Message + "): file ignored"}}, false
		}
		return nil, []warning{{file, 0, fmt.Sprintf("not valid TOML (%v): file ignored", err)}}, false
	}
	raw, ok := doc["tools"]
	if !ok {
		return nil, nil, true
	}
	table, ok := raw.(map[string]any)
	if !ok {
		return nil, []warning{{file, lineOf(data, "", "tools"), "tools is not a table: write [tools] with NAME = \"VERSION\" lines"}}, true
	}
	var (
		tools []Tool
		warns []warning
	)
	for _, k := range md.Keys() {
		if len(k) != 2 || k[0] != "tools" {
			continue
		}
		key := k[1]
		n := lineOf(data, "tools", key)
		version, msg := miseVersion(key, table[key])
		if msg != "" {
			warns = append(warns, warning{file, n, msg})
			continue
		}
		name := normalise(key)
		if m := checkTool(name, version); m != "" {
			warns = append(warns, warning{file, n, m})
			continue
		}
		if list, ok := table[key].([]any); ok && len(list) > 1 {
			warns = append(warns, warning{file, n, fmt.Sprintf("%s: only the first version (%s) is installed; %d more ignored", name, version, len(list)-1)})
		}
		if version == "system" {
			warns = append(warns, warning{file, n, fmt.Sprintf("%s system: the image's own %s is used; nothing to install", name, name)})
			continue
		}
		tools = append(tools, Tool{Name: name, Version: version, Source: file, Line: n})
	}
	return tools, warns, true
}

// miseVersion is the version a [tools] value asks for.
func miseVersion(name string, v any) (string, string) {
	switch v := v.(type) {
	case string:
		return v, ""
	case []any:
		if len(v) == 0 {
			return "", fmt.Sprintf("%s has an empty list of versions", clip(name))
		}
		return miseVersion(name, v[0])
	case map[string]any:
		if s, ok := v["version"].(string); ok {
			return s, ""
		}
		return "", fmt.Sprintf("%s: the table has no version = \"...\"", clip(name))
	case int64, float64:
		return "", fmt.Sprintf("%s = %v: write the version as a string, e.g. %s = \"%v\"", clip(name), v, clip(name), v)
	}
	return "", fmt.Sprintf("%s: the value is not a version string", clip(name))
}

// lineOf finds the line of key in table (a top-level key when table is
// empty) by reading the text; 0 when it cannot tell.
func lineOf(data []byte, table, key string) int {
	in := table == ""
	for i, l := range lines(data) {
		t := strings.TrimSpace(l)
		if strings.HasPrefix(t, "[") {
			h := strings.Trim(stripHash(t), "[] \t")
			in = h == table
			if table == "" && h == key {
				return i + 1
			}
			continue
		}
		if !in {
			continue
		}
		for _, form := range []string{key, `"` + key + `"`, "'" + key + "'"} {
			if rest, ok := strings.CutPrefix(t, form); ok && strings.HasPrefix(strings.TrimSpace(rest), "=") {
				return i + 1
			}
		}
	}
	return 0
}

// parseGoMod reads go.mod's go and toolchain lines; the toolchain, when
// there is one, is the Go release to install.
func parseGoMod(file string, data []byte) ([]Tool, []warning) {
	var (
		warns     []warning
		goLine    *Tool
		toolchain *Tool
		block     bool
	)
	for i, l := range lines(data) {
		n := i + 1
		if j := strings.Index(l, "//"); j >= 0 {
			l = l[:j]
		}
		f := strings.Fields(l)
		switch {
		case len(f) == 0:
			continue
		case block:
			block = f[0] != ")"
			continue
		case f[len(f)-1] == "(":
			block = true
			continue
		}
		switch f[0] {
		case "go":
			if len(f) != 2 || !goVersion.MatchString(f[1]) {
				warns = append(warns, warning{file, n, fmt.Sprintf("go line %q: want go 1.N or go 1.N.P", clip(strings.Join(f, " ")))})
				continue
			}
			if goLine != nil {
				warns = append(warns, warning{file, n, fmt.Sprintf("a second go line: line %d's is used", goLine.Line)})
				continue
			}
			goLine = &Tool{Name: "go", Version: f[1], Source: file, Line: n}
		case "toolchain":
			if len(f) == 2 && f[1] == "default" {
				continue
			}
			v, ok := "", len(f) == 2
			if ok {
				v, ok = strings.CutPrefix(f[1], "go")
			}
			if !ok || !goVersion.MatchString(v) {
				warns = append(warns, warning{file, n, fmt.Sprintf("toolchain line %q: want toolchain go1.N.P", clip(strings.Join(f, " ")))})
				continue
			}
			if toolchain == nil {
				toolchain = &Tool{Name: "go", Version: v, Source: file, Line: n}
			}
		}
	}
	switch {
	case toolchain != nil:
		return []Tool{*toolchain}, warns
	case goLine != nil:
		return []Tool{*goLine}, warns
	}
	return nil, warns
}

// parseSingle reads a file that names one version of one tool on its
// first line (.nvmrc, .python-version); # comments and blank lines are
// skipped, and further versions are ignored with a warning.
func parseSingle(file, name string, data []byte) ([]Tool, []warning) {
	var (
		tool  *Tool
		warns []warning
	)
	for i, l := range lines(data) {
		n := i + 1
		v := stripHash(l)
		if v == "" {
			continue
		}
		if tool != nil {
			warns = append(warns, warning{file, n, fmt.Sprintf("only the first version (%s, line %d) is installed; %q ignored", tool.Version, tool.Line, clip(v))})
			break
		}
		if strings.ContainsAny(v, " \t") {
			warns = append(warns, warning{file, n, fmt.Sprintf("%q: one version a line", clip(v))})
			return nil, warns
		}
		if name == "node" {
			v = nodeVersion(v)
		}
		if v == "system" {
			warns = append(warns, warning{file, n, fmt.Sprintf("system: the image's own %s is used; nothing to install", name)})
			return nil, warns
		}
		if msg := checkTool(name, v); msg != "" {
			warns = append(warns, warning{file, n, msg})
			return nil, warns
		}
		tool = &Tool{Name: name, Version: v, Source: file, Line: n}
	}
	if tool == nil {
		if len(warns) == 0 {
			warns = append(warns, warning{file, 0, "declares no version"})
		}
		return nil, warns
	}
	return []Tool{*tool}, warns
}

// nodeVersion turns nvm's spellings into mise's: v20.1.0 → 20.1.0,
// lts/* → lts, node and stable → latest.
func nodeVersion(v string) string {
	switch {
	case len(v) > 1 && (v[0] == 'v' || v[0] == 'V') && v[1] >= '0' && v[1] <= '9':
		return v[1:]
	case v == "lts/*":
		return "lts"
	case v == "node" || v == "stable" || v == "current":
		return "latest"
	}
	return v
}
