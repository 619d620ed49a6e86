package images

import "time"

// Image is a registered or built root filesystem plus the kernel it boots
// with.
type Image struct {
	ID         string
	Name       string
	RootFS     string
	RootFSSize int64
	Kernel     string
	Initrd     string // empty when the kernel needs none
	CreatedAt  time.Time
	// State is StateReady, or StatePulled for an OCI image an older
	// banger pulled without making a root disk of it: it cannot boot.
	State string
	// Source, Digest, Config and Layers describe a pulled image: the
	// normalised reference, the manifest digest, the config's run
	// defaults and the layer digests (oldest first).
	Source string
	Digest string
	Config *RunConfig
	Layers []string
	// Identity is how VMs of the image get their identity: "disk" (the
	// image reads a per-VM identity disk at boot) or "debugfs" (banger
	// writes it into each VM's root disk).
	Identity string
}

// Image states.
const (
	StateReady  = "ready"
	StatePulled = "pulled"
)

// RunConfig is what an OCI image's config says about running it.
type RunConfig struct {
	Env        []string `json:"env,omitempty"`
	WorkingDir string   `json:"working_dir,omitempty"`
	User       string   `json:"user,omitempty"`
	Entrypoint []string `json:"entrypoint,omitempty"`
	Cmd        []string `json:"cmd,omitempty"`
	// Init is how the image's root disk boots: InitSystemd, or InitAgent
	// (no init in the image: the agent is PID 1).
	Init string `json:"init,omitempty"`
}

// PullRequest asks for an OCI image: see Service.Pull. An empty Name is
// derived from the reference ("debian:12" → "debian-12").
type PullRequest struct {
	Ref  string
	Name string
	// IfMissing returns the image already recorded under Name when it
	// was pulled from Ref, instead of refusing the name.
	IfMissing bool
}

// RegisterRequest names existing host files to record as an image: see
// Service.Register.
type RegisterRequest struct {
	Name   string
	RootFS string
	Kernel string
	Initrd string // optional
}

// BuildRequest asks for an image built from Debian packages: see
// Service.Build. Empty fields take defaults.
type BuildRequest struct {
	Name     string // DefaultImage
	Suite    string // the builder's default suite
	Packages []string
	Kernel   string // DefaultKernel
}

// Progress is how far an image build has got: its current step, and, when
// Fraction is non-zero, how far that step has got (0 to 1).
type Progress struct {
	Step     string
	Index    int // 1-based step number
	Total    int // steps of the build
	Detail   string
	Fraction float64
	// Current of TotalUnits, when TotalUnits is non-zero, counts the
	// step's work in Unit (e.g. "packages" set up).
	Current    int64
	TotalUnits int64
	Unit       string
	// Bar, when set, names one of several items the step works on at
	// once (a layer of a pull, by digest): the report is that item's.
	Bar string
}
