package api

// BuildImageRequest is the body of POST /v1/images/build: build an image
// from Debian packages. Empty fields take the defaults shown.
type BuildImageRequest struct {
	Name     string   `json:"name,omitempty"`     // "default"
	Suite    string   `json:"suite,omitempty"`    // "bookworm"
	Packages []string `json:"packages,omitempty"` // extra Debian packages
	Kernel   string   `json:"kernel,omitempty"`   // kernel name or id; "default"
}
