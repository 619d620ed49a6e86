package main

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDecodeObject(t *testing.T) {
	type result struct {
		Name    string
		Count   uint8
		Flag    bool
		Comment *string
	}
	decode := func(body string) (result, error) {
		var r result
		err := decodeObject([]byte(body),
			required("name", &r.Name),
			defaulted("count", &r.Count),
			defaulted("flag", &r.Flag),
			optional("comment", &r.Comment),
		)
		return r, err
	}
	comment := "hi"
	tests := []struct {
		name    string
		body    string
		want    result
		wantErr string
	}{
		{"required only", `{"name":"a"}`, result{Name: "a"}, ""},
		{"all fields", `{"name":"a","count":3,"flag":true,"comment":"hi"}`, result{Name: "a", Count: 3, Flag: true, Comment: &comment}, ""},
		{"null option", `{"name":"a","comment":null}`, result{Name: "a"}, ""},
		{"whitespace", " {\n\"name\" : \"a\"\n} \n", result{Name: "a"}, ""},
		{"missing required", `{"count":1}`, result{}, "missing field `name`"},
		{"unknown", `{"name":"a","extra":1}`, result{}, "unknown field `extra`, expected one of `name`, `count`, `flag`, `comment`"},
		{"case-sensitive", `{"Name":"a"}`, result{}, "unknown field `Name`"},
		{"duplicate", `{"name":"a","name":"b"}`, result{}, "duplicate field `name`"},
		{"null required", `{"name":null}`, result{}, "invalid type: null for field `name`"},
		{"null defaulted", `{"name":"a","flag":null}`, result{}, "invalid type: null for field `flag`"},
		{"wrong type", `{"name":1}`, result{}, "invalid value for field `name`: invalid type: number, expected string"},
		{"overflow", `{"name":"a","count":300}`, result{}, "invalid value for field `count`"},
		{"negative", `{"name":"a","count":-1}`, result{}, "invalid value for field `count`"},
		{"float", `{"name":"a","count":1.5}`, result{}, "invalid value for field `count`"},
		{"array", `[]`, result{}, "invalid type: sequence, expected struct"},
		{"string", `"x"`, result{}, "invalid type: string \"x\", expected struct"},
		{"null body", `null`, result{}, "invalid type: null, expected struct"},
		{"empty", ``, result{}, "EOF while parsing a value"},
		{"truncated", `{"name":"a"`, result{}, "EOF while parsing a value"},
		{"trailing", `{"name":"a"}{}`, result{}, "trailing characters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decode(tt.body)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("decoded (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseMAC(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"06:00:AC:10:00:02", "06:00:ac:10:00:02", true},
		{"aa:bb:cc:dd:ee:ff", "aa:bb:cc:dd:ee:ff", true},
		{"06:00:ac:10:00", "", false},
		{"06:00:ac:10:00:0g", "", false},
		{"6:00:ac:10:00:02", "", false},
		{"06-00-ac-10-00-02", "", false},
	}
	for _, tt := range tests {
		got, err := parseMAC(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseMAC(%q) = %q, %v; want %q, ok=%t", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestCheckedID(t *testing.T) {
	tests := []struct {
		id   string
		want string // "" for valid
	}{
		{"rootfs", ""},
		{"work_1", ""},
		{"", "The ID cannot be empty."},
		{"work-disk", "API Resource IDs can only contain alphanumeric characters and underscores."},
		{"a b", "API Resource IDs can only contain alphanumeric characters and underscores."},
	}
	for _, tt := range tests {
		got := ""
		if err := checkedID(tt.id); err != nil {
			got = err.Error()
		}
		if got != tt.want {
			t.Errorf("checkedID(%q) = %q, want %q", tt.id, got, tt.want)
		}
	}
}

func TestParseArgs(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    options
		wantErr string
	}{
		{"defaults", nil, options{apiSock: "/run/firecracker.socket", id: "anonymous-instance", maxPayload: 51200}, ""},
		{"values", []string{"--api-sock", "/s", "--id", "x", "--log-path", "/l", "--level", "Warning", "--show-level", "--http-api-max-payload-size", "100"},
			options{apiSock: "/s", id: "x", logPath: "/l", level: "Warning", showLevel: true, maxPayload: 100}, ""},
		{"version wins", []string{"--bogus", "--version"}, options{apiSock: "/run/firecracker.socket", id: "anonymous-instance", maxPayload: 51200, version: true}, ""},
		{"after separator ignored", []string{"--id", "x", "--", "--version"}, options{apiSock: "/run/firecracker.socket", id: "x", maxPayload: 51200}, ""},
		{"unimplemented", []string{"--no-api"}, options{apiSock: "/run/firecracker.socket", id: "anonymous-instance", maxPayload: 51200, unsupported: "no-api"}, ""},
		{"forbidden pair", []string{"--no-seccomp", "--seccomp-filter", "/f"}, options{}, "cannot be used together"},
		{"bad payload size", []string{"--http-api-max-payload-size", "big"}, options{}, "usize"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseArgs(tt.args)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(options{})); diff != "" {
				t.Errorf("options (-want +got):\n%s", diff)
			}
		})
	}
}
