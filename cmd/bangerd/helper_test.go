package main

import (
	"bytes"
	"strings"
	"testing"

	"banger/internal/testtier"
)

func TestIsRootHelper(t *testing.T) {
	tests := []struct {
		args []string
		want bool
	}{
		{nil, false},
		{[]string{"--config", "x"}, false},
		{[]string{"--root-helper", "--allow-uid", "1000"}, true},
		{[]string{"--allow-uid=1000", "-root-helper"}, true},
		{[]string{"--root-helper=true"}, true},
		{[]string{"--", "--root-helper"}, false},
	}
	for _, tt := range tests {
		if got := isRootHelper(tt.args); got != tt.want {
			t.Errorf("isRootHelper(%q) = %v, want %v", tt.args, got, tt.want)
		}
	}
}

func TestRootHelperRefusesBadFlags(t *testing.T) {
	tests := []struct {
		args []string
		want string
		root bool // checked after the helper's own root check
	}{
		{[]string{"--root-helper"}, "--allow-uid is required", false},
		{[]string{"--root-helper", "--allow-uid=1000", "extra"}, "unexpected arguments", false},
		{[]string{"--root-helper", "--allow-uid=1000", "--bridge=Bad!"}, "bridge", true},
	}
	for _, tt := range tests {
		if tt.root {
			testtier.Root(t)
		}
		var stderr bytes.Buffer
		err := runHelper(tt.args, &stderr)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("runHelper(%q) = %v, want an error mentioning %q", tt.args, err, tt.want)
		}
	}
}
