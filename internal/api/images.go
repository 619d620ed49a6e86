package api

// BuildImageRequest is the body of POST /v1/images/build: build an image
// from Debian packages. Empty fields take the defaults shown.
type BuildImageRequest struct {
	Name     string   `json:"name,omitempty"`     // "default"
	Suite    string   `json:"suite,omitempty"`    // "bookworm"
	Packages []string `json:"packages,omitempty"` // extra Debian packages
	Kernel   string   `json:"kernel,omitempty"`   // kernel name or id; "default"
}

// PullImageRequest is the body of POST /v1/images/pull: pull an OCI
// image. An empty name is derived from the reference ("debian:12" →
// "debian-12").
type PullImageRequest struct {
	Ref  string `json:"ref"`
	Name string `json:"name,omitempty"`
	// IfMissing answers with the image already pulled from Ref under the
	// name instead of refusing the taken name (vm run --image REF).
	IfMissing bool `json:"if_missing,omitempty"`
}

// ImageConfig is what a pulled image's config says about running it.
type ImageConfig struct {
	Env        []string `json:"env,omitempty"`
	WorkingDir string   `json:"working_dir,omitempty"`
	User       string   `json:"user,omitempty"`
	Entrypoint []string `json:"entrypoint,omitempty"`
	Cmd        []string `json:"cmd,omitempty"`
	// Init is how the image's root disk boots: "systemd" (the image's
	// systemd, the agent a unit) or "agent" (no init: the agent is PID 1).
	Init string `json:"init,omitempty"`
}

// Image states.
const (
	ImageReady  = "ready"  // bootable
	ImagePulled = "pulled" // an OCI image an older banger pulled without making a root disk: not bootable
)
