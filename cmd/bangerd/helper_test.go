package main

import (
	"bytes"
	"strings"
	"testing"
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
	}{
		{[]string{"--root-helper"}, "--allow-uid is required"},
		{[]string{"--root-helper", "--allow-uid=1000", "extra"}, "unexpected arguments"},
		{[]string{"--root-helper", "--allow-uid=1000", "--bridge=Bad!"}, "bridge"},
	}
	for _, tt := range tests {
		var stderr bytes.Buffer
		err := runHelper(tt.args, &stderr)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("runHelper(%q) = %v, want an error mentioning %q", tt.args, err, tt.want)
		}
	}
}
