package bootstrap

import (
	"fmt"
	"strings"
)

// Files are the declaration files this package reads, at the top level of
// a repository, most authoritative first: a tool declared in an earlier
// file wins over the same tool in a later one (mise's configuration and
// .tool-versions over the single-tool files).
var Files = []string{".mise.toml", "mise.toml", ".tool-versions", "go.mod", ".nvmrc", ".python-version"}

// Plan is what a repository asks to have installed.
type Plan struct {
	// Tools are the tools to install, one version each, in the order
	// their files were read.
	Tools []Tool `json:"tools"`
	// Warnings name the file and line of every declaration that was
	// ignored, and why.
	Warnings []string `json:"warnings,omitempty"`
	// Notes say which declarations another file overrode.
	Notes []string `json:"notes,omitempty"`
	// MiseConfigs are the repository's mise files that parsed, whether or
	// not they declared a tool: mise must be told to trust them before it
	// runs in the workspace.
	MiseConfigs []string `json:"-"`
}

// Empty reports whether there is nothing to install.
func (p Plan) Empty() bool { return len(p.Tools) == 0 }

// Summary lists the tools with where each came from:
// "go 1.22.1 (.tool-versions), node 20 (.nvmrc)".
func (p Plan) Summary() string {
	parts := make([]string, len(p.Tools))
	for i, t := range p.Tools {
		parts[i] = fmt.Sprintf("%s (%s)", t, t.Source)
	}
	return strings.Join(parts, ", ")
}

// Declared lists the tools by file: ".tool-versions (go 1.22.1, node 20)
// and .nvmrc (node 20)".
func (p Plan) Declared() string {
	var (
		order  []string
		byFile = map[string][]string{}
	)
	for _, t := range p.Tools {
		if _, ok := byFile[t.Source]; !ok {
			order = append(order, t.Source)
		}
		byFile[t.Source] = append(byFile[t.Source], t.String())
	}
	parts := make([]string, len(order))
	for i, f := range order {
		parts[i] = fmt.Sprintf("%s (%s)", f, strings.Join(byFile[f], ", "))
	}
	switch len(parts) {
	case 0:
		return ""
	case 1:
		return parts[0]
	}
	return strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1]
}

// Detect builds the plan from the declaration files' contents, keyed by
// their names in Files; names not in Files are ignored. A file longer
// than MaxFileSize is ignored with a warning.
func Detect(files map[string][]byte) Plan {
	var (
		p     Plan
		chose = map[string]Tool{}
	)
	for _, file := range Files {
		data, ok := files[file]
		if !ok {
			continue
		}
		if len(data) > MaxFileSize {
			p.Warnings = append(p.Warnings, warning{file, 0, fmt.Sprintf("larger than %d KiB: ignored", MaxFileSize>>10)}.String())
			continue
		}
		tools, warns, ok := parse(file, data)
		if ok && (file == ".mise.toml" || file == "mise.toml") {
			p.MiseConfigs = append(p.MiseConfigs, file)
		}
		for _, w := range warns {
			p.Warnings = append(p.Warnings, w.String())
		}
		for _, t := range tools {
			if c, ok := chose[t.Name]; ok {
				if c.Source != t.Source {
					p.Notes = append(p.Notes, fmt.Sprintf("%s in %s is overridden by %s in %s", t, t.Source, c, c.Source))
				}
				continue
			}
			if len(p.Tools) == maxTools {
				p.Warnings = append(p.Warnings, warning{file, t.Line, fmt.Sprintf("more than %d tools: %s and the rest ignored", maxTools, t.Name)}.String())
				break
			}
			chose[t.Name] = t
			p.Tools = append(p.Tools, t)
		}
	}
	return p
}

// parse reads one declaration file; ok is false when the whole file was
// ignored.
func parse(file string, data []byte) (tools []Tool, warns []warning, ok bool) {
	switch file {
	case ".mise.toml", "mise.toml":
		return parseMise(file, data)
	case ".tool-versions":
		tools, warns = parseToolVersions(file, data)
	case "go.mod":
		tools, warns = parseGoMod(file, data)
	case ".nvmrc":
		tools, warns = parseSingle(file, "node", data)
	case ".python-version":
		tools, warns = parseSingle(file, "python", data)
	}
	return tools, warns, true
}
