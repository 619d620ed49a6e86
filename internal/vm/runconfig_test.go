package vm

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"banger/internal/agent/proto"
)

// TestApplyRunConfig: a command runs as the image would run it, the
// request's own settings win, and no command is a login shell.
func TestApplyRunConfig(t *testing.T) {
	img := &runConfig{Env: []string{"PATH=/usr/bin:/bin", "GREETING=hi"}, WorkingDir: "/srv", User: "app",
		Entrypoint: []string{"/entry", "--flag"}, Cmd: []string{"serve"}}
	for _, tt := range []struct {
		name string
		c    *runConfig
		req  proto.ExecRequest
		want proto.ExecRequest
	}{
		{"command", img, proto.ExecRequest{Argv: []string{"ls", "-l"}},
			proto.ExecRequest{Argv: []string{"/entry", "--flag", "ls", "-l"}, Env: []string{"PATH=/usr/bin:/bin", "GREETING=hi"}, Cwd: "/srv", User: "app"}},
		{"request overrides", img, proto.ExecRequest{Argv: []string{"id"}, Env: []string{"GREETING=yo", "X=1"}, Cwd: "/tmp", User: "root"},
			proto.ExecRequest{Argv: []string{"/entry", "--flag", "id"}, Env: []string{"PATH=/usr/bin:/bin", "GREETING=yo", "X=1"}, Cwd: "/tmp", User: "root"}},
		{"shell", img, proto.ExecRequest{TTY: true},
			proto.ExecRequest{Argv: []string{"/bin/sh", "-l"}, Env: []string{"PATH=/usr/bin:/bin", "GREETING=hi"}, Cwd: "/srv", User: "app", TTY: true}},
		{"no entrypoint", &runConfig{Cmd: []string{"sh"}}, proto.ExecRequest{Argv: []string{"true"}},
			proto.ExecRequest{Argv: []string{"true"}, Env: []string{}}},
		{"debian image shell", nil, proto.ExecRequest{}, proto.ExecRequest{Argv: []string{"/bin/bash", "-l"}}},
		{"debian image command", nil, proto.ExecRequest{Argv: []string{"ls"}, Env: []string{"A=1"}}, proto.ExecRequest{Argv: []string{"ls"}, Env: []string{"A=1"}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := append([]string{}, img.Env...)
			got := applyRunConfig(tt.req, tt.c)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("applyRunConfig (-want +got):\n%s", diff)
			}
			if !cmp.Equal(before, img.Env) {
				t.Errorf("the image's Env changed: %v", img.Env)
			}
		})
	}
}
