package bootstrap

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDetect(t *testing.T) {
	tests := []struct {
		name     string
		files    map[string][]byte
		tools    []Tool
		warnings []string
		notes    []string
		configs  []string // the mise files to trust
	}{
		{
			name:  "nothing declared",
			files: map[string][]byte{"README": []byte("go 1.22\n")},
		},
		{
			name:  "tool-versions with comments, aliases and extra versions",
			files: map[string][]byte{".tool-versions": []byte("# tools\r\ngolang 1.22.1 # pinned\r\n\nnodejs 20.11.0 18\npython system\n")},
			tools: []Tool{{"go", "1.22.1", ".tool-versions", 2}, {"node", "20.11.0", ".tool-versions", 4}},
			warnings: []string{
				".tool-versions:4: node: only the first version (20.11.0) is installed; 18 ignored",
				".tool-versions:5: python system: the image's own python is used; nothing to install",
			},
		},
		{
			name:  "malformed tool-versions lines are skipped, each named",
			files: map[string][]byte{".tool-versions": []byte("go\n-rf 1\nnode $(reboot)\nruby 3.3\nruby 3.2\n")},
			tools: []Tool{{"ruby", "3.3", ".tool-versions", 4}},
			warnings: []string{
				`.tool-versions:1: "go" has no version: write NAME VERSION, e.g. go 1.22.1`,
				`.tool-versions:2: tool name "-rf": use letters, digits and . _ + : / @ - (at most 64)`,
				`.tool-versions:3: node version "$(reboot)": use letters, digits and . _ + : / ~ - (at most 64), starting with a letter or digit`,
				".tool-versions:5: ruby declared again: line 4's version is used",
			},
		},
		{
			name:  "go.mod go line, inside blocks and comments ignored",
			files: map[string][]byte{"go.mod": []byte("module example.com/app // go 1.1\n\ngo 1.22.1\n\nrequire (\n\tgo 1.99\n)\n")},
			tools: []Tool{{"go", "1.22.1", "go.mod", 3}},
		},
		{
			name:  "go.mod toolchain wins over the go line",
			files: map[string][]byte{"go.mod": []byte("module m\n\ngo 1.21\n\ntoolchain go1.22.3\n")},
			tools: []Tool{{"go", "1.22.3", "go.mod", 5}},
		},
		{
			name:     "go.mod bad lines",
			files:    map[string][]byte{"go.mod": []byte("module m\ngo one\ntoolchain 1.22\ntoolchain default\n")},
			warnings: []string{`go.mod:2: go line "go one": want go 1.N or go 1.N.P`, `go.mod:3: toolchain line "toolchain 1.22": want toolchain go1.N.P`},
		},
		{
			name:     "nvmrc spellings",
			files:    map[string][]byte{".nvmrc": []byte("v20.11.0\n"), ".python-version": []byte("3.12.1\n3.11\n")},
			tools:    []Tool{{"node", "20.11.0", ".nvmrc", 1}, {"python", "3.12.1", ".python-version", 1}},
			warnings: []string{`.python-version:2: only the first version (3.12.1, line 1) is installed; "3.11" ignored`},
		},
		{
			name:  "nvmrc lts",
			files: map[string][]byte{".nvmrc": []byte("# node\nlts/*\n")},
			tools: []Tool{{"node", "lts", ".nvmrc", 2}},
		},
		{
			name:     "empty and spaced single-tool files",
			files:    map[string][]byte{".nvmrc": []byte("\n\n"), ".python-version": []byte("3.12 3.11\n")},
			warnings: []string{".nvmrc: declares no version", `.python-version:1: "3.12 3.11": one version a line`},
		},
		{
			name: "mise config: strings, lists, tables, bad values",
			files: map[string][]byte{".mise.toml": []byte(`[env]
GO = "1"

[tools]
go = "1.22"
node = ["20", "18"]
"python" = { version = "3.12" }
ruby = 3.3
java = {}
`)},
			tools: []Tool{{"go", "1.22", ".mise.toml", 5}, {"node", "20", ".mise.toml", 6}, {"python", "3.12", ".mise.toml", 7}},
			warnings: []string{
				".mise.toml:6: node: only the first version (20) is installed; 1 more ignored",
				`.mise.toml:8: ruby = 3.3: write the version as a string, e.g. ruby = "3.3"`,
				`.mise.toml:9: java: the table has no version = "..."`,
			},
			configs: []string{".mise.toml"},
		},
		{
			name:     "mise config that is not TOML",
			files:    map[string][]byte{"mise.toml": []byte("[tools]\ngo = \"1.22\"\nnode = \n")},
			warnings: []string{"mise.toml:3: not valid TOML (expected value but found '\\n' instead): file ignored"},
		},
		{
			name:     "mise tools that is not a table",
			files:    map[string][]byte{".mise.toml": []byte("tools = \"go\"\n")},
			warnings: []string{`.mise.toml:1: tools is not a table: write [tools] with NAME = "VERSION" lines`},
			configs:  []string{".mise.toml"},
		},
		{
			name: "merge: mise over tool-versions over single-tool files, each override noted",
			files: map[string][]byte{
				".mise.toml":      []byte("[tools]\nnode = \"22\"\n"),
				".tool-versions":  []byte("go 1.22.1\nnode 20\n"),
				"go.mod":          []byte("module m\ngo 1.21\n"),
				".nvmrc":          []byte("18\n"),
				".python-version": []byte("3.12\n"),
			},
			tools: []Tool{{"node", "22", ".mise.toml", 2}, {"go", "1.22.1", ".tool-versions", 1}, {"python", "3.12", ".python-version", 1}},
			notes: []string{
				"node 20 in .tool-versions is overridden by node 22 in .mise.toml",
				"go 1.21 in go.mod is overridden by go 1.22.1 in .tool-versions",
				"node 18 in .nvmrc is overridden by node 22 in .mise.toml",
			},
			configs: []string{".mise.toml"},
		},
		{
			name:     "huge files are ignored",
			files:    map[string][]byte{".tool-versions": []byte(strings.Repeat("go 1.22\n", MaxFileSize)), ".nvmrc": []byte("20")},
			tools:    []Tool{{"node", "20", ".nvmrc", 1}},
			warnings: []string{".tool-versions: larger than 64 KiB: ignored"},
		},
		{
			name:     "binary garbage",
			files:    map[string][]byte{".tool-versions": []byte("\x00\xff\xfe go\x00 1\n"), ".python-version": []byte("\xff\n")},
			warnings: []string{`.tool-versions:1: tool name "\x00\xff\xfe": use letters, digits and . _ + : / @ - (at most 64)`, `.python-version:1: python version "\xff": use letters, digits and . _ + : / ~ - (at most 64), starting with a letter or digit`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Detect(tt.files)
			want := Plan{Tools: tt.tools, Warnings: tt.warnings, Notes: tt.notes, MiseConfigs: tt.configs}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Detect (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTooManyTools(t *testing.T) {
	var b strings.Builder
	for i := range maxTools + 3 {
		fmt.Fprintf(&b, "tool%d 1\n", i)
	}
	p := Detect(map[string][]byte{".tool-versions": []byte(b.String())})
	if len(p.Tools) != maxTools || len(p.Warnings) != 1 || !strings.Contains(p.Warnings[0], "more than 64 tools") {
		t.Errorf("%d tools, warnings %q; want %d tools and one warning", len(p.Tools), p.Warnings, maxTools)
	}
}

func TestDeclared(t *testing.T) {
	p := Plan{Tools: []Tool{{"go", "1.22.1", ".tool-versions", 1}, {"node", "20", ".tool-versions", 2}, {"python", "3.12", ".python-version", 1}}}
	if got, want := p.Declared(), ".tool-versions (go 1.22.1, node 20) and .python-version (python 3.12)"; got != want {
		t.Errorf("Declared = %q, want %q", got, want)
	}
	if got, want := p.Summary(), "go 1.22.1 (.tool-versions), node 20 (.tool-versions), python 3.12 (.python-version)"; got != want {
		t.Errorf("Summary = %q, want %q", got, want)
	}
}
