package vm

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"banger/internal/agent/proto"
	"banger/internal/store"
)

// runConfig is what a pulled OCI image's config says about running it:
// the JSON the images service records in store.Image.RunConfig. A VM's
// run config is its image's, which cannot change, nor be removed while
// the VM exists.
type runConfig struct {
	Env        []string `json:"env,omitempty"`
	WorkingDir string   `json:"working_dir,omitempty"`
	User       string   `json:"user,omitempty"`
	Entrypoint []string `json:"entrypoint,omitempty"`
	Cmd        []string `json:"cmd,omitempty"`
	Init       string   `json:"init,omitempty"`
}

// loginShell is the shell of an exec without a command in an image
// without a run config (banger's Debian image).
var loginShell = []string{"/bin/bash", "-l"}

// imageRunConfig returns the run config of rec's image, nil for an image
// without one.
func (s *Service) imageRunConfig(ctx context.Context, rec store.VM) (*runConfig, error) {
	img, err := s.store.GetImage(ctx, rec.ImageID)
	if err != nil {
		return nil, err
	}
	if img.RunConfig == "" {
		return nil, nil
	}
	var c runConfig
	if err := json.Unmarshal([]byte(img.RunConfig), &c); err != nil {
		return nil, fmt.Errorf("read the run config of image %s: %w", img.Name, err)
	}
	return &c, nil
}

// applyRunConfig makes req run as the image would run it: an empty Argv
// is a login shell (the image's /bin/sh, or bash in an image without a
// run config); a given command gets the image's Entrypoint in front; the
// image's Env comes first, the request's overrides it; WorkingDir is the
// directory unless the request names one; User is the user unless the
// request names one. Without a run config only the shell is filled in.
func applyRunConfig(req proto.ExecRequest, c *runConfig) proto.ExecRequest {
	if c == nil {
		if len(req.Argv) == 0 {
			req.Argv = append([]string{}, loginShell...)
		}
		return req
	}
	if len(req.Argv) == 0 {
		req.Argv = []string{"/bin/sh", "-l"}
	} else if len(c.Entrypoint) > 0 {
		req.Argv = append(append([]string{}, c.Entrypoint...), req.Argv...)
	}
	env := append([]string{}, c.Env...)
	for _, kv := range req.Env {
		key, _, _ := strings.Cut(kv, "=")
		env = setEnv(env, key, kv)
	}
	req.Env = env
	if req.Cwd == "" {
		req.Cwd = c.WorkingDir
	}
	if req.User == "" {
		req.User = c.User
	}
	return req
}

func setEnv(env []string, key, kv string) []string {
	for i, e := range env {
		if strings.HasPrefix(e, key+"=") {
			env[i] = kv
			return env
		}
	}
	return append(env, kv)
}
