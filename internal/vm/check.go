package vm

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"unicode/utf8"

	"banger/internal/bytesize"
	"banger/internal/errdefs"
	"banger/internal/names"
)

// CheckCreate fills the fields req leaves zero from d and checks every
// field, reporting every problem at once, each naming the request's field
// (as the API spells it) and the allowed range. Each number is compared
// with its limits before any arithmetic is done on it, so a value that
// would wrap (memory_mib 17592186044672 is 256MiB once shifted to bytes in
// 64 bits) is refused rather than shrunk. It does not consult the store:
// Create checks the image and the name's uniqueness after it.
func (d Defaults) CheckCreate(req CreateRequest) (CreateRequest, error) {
	if req.VCPUs == 0 {
		req.VCPUs = d.VCPUs
	}
	if req.MemoryMiB == 0 {
		req.MemoryMiB = d.MemoryMiB
	}
	if req.DiskBytes == 0 {
		req.DiskBytes = d.DiskBytes
	}
	if req.Image == "" {
		req.Image = d.Image
	}
	var problems []error
	bad := func(field, value string, err error) {
		if err != nil {
			problems = append(problems, fmt.Errorf("%s = %s: %w", field, value, err))
		}
	}
	if req.Name != "" {
		if err := names.Validate(req.Name); err != nil {
			problems = append(problems, err)
		}
	}
	if req.VCPUs < 0 {
		bad("vcpus", fmt.Sprint(req.VCPUs), errors.New("must be positive"))
	} else if d.ValidateVCPUs != nil {
		bad("vcpus", fmt.Sprint(req.VCPUs), d.ValidateVCPUs(req.VCPUs))
	}
	if req.MemoryMiB < 0 {
		bad("memory_mib", fmt.Sprint(req.MemoryMiB), errors.New("must be positive"))
	} else if d.ValidateMemory != nil {
		bad("memory_mib", showMiB(req.MemoryMiB), d.ValidateMemory(req.MemoryMiB))
	}
	if req.DiskBytes < 0 {
		bad("disk_bytes", fmt.Sprint(req.DiskBytes), errors.New("must be positive"))
	} else if d.ValidateDisk != nil {
		bad("disk_bytes", fmt.Sprintf("%d (%s)", req.DiskBytes, bytesize.Format(req.DiskBytes)), d.ValidateDisk(req.DiskBytes))
	}
	if req.NetGroup != "" {
		if err := names.ValidateAs("network group", req.NetGroup); err != nil {
			problems = append(problems, err)
		}
	}
	problems = append(problems, checkLabels(req.Labels)...)
	if len(problems) > 0 {
		return req, errdefs.Wrap(errdefs.InvalidArgument, errors.Join(problems...))
	}
	return req, nil
}

// showMiB shows a number of MiB, with its size when that fits in 64 bits.
func showMiB(mib int) string {
	if mib < 0 || int64(mib) > math.MaxInt64>>20 {
		return fmt.Sprint(mib)
	}
	return fmt.Sprintf("%d (%s)", mib, bytesize.Format(int64(mib)<<20))
}

// Label limits: at most maxLabels pairs; a key is 1 to maxLabelKey
// characters of letters, digits and "-._/", starting and ending with a
// letter or digit; a value is at most maxLabelValue bytes of UTF-8.
const (
	maxLabels     = 64
	maxLabelKey   = 253
	maxLabelValue = 1024
)

// checkLabels lists what is wrong with a VM's labels, sorted by key.
func checkLabels(labels map[string]string) []error {
	var problems []error
	if len(labels) > maxLabels {
		problems = append(problems, fmt.Errorf("labels: %d pairs, at most %d are allowed", len(labels), maxLabels))
	}
	keys := slices.Sorted(maps.Keys(labels))
	for _, k := range keys {
		if !validLabelKey(k) {
			problems = append(problems, fmt.Errorf("label key %q: use 1 to %d letters, digits, \"-\", \".\", \"_\" or \"/\", starting and ending with a letter or digit", k, maxLabelKey))
		}
		if v := labels[k]; len(v) > maxLabelValue || !utf8.ValidString(v) {
			problems = append(problems, fmt.Errorf("label %q: the value must be valid UTF-8 of at most %d bytes", k, maxLabelValue))
		}
	}
	return problems
}

func validLabelKey(k string) bool {
	if k == "" || len(k) > maxLabelKey {
		return false
	}
	alnum := func(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' }
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !alnum(c) && c != '-' && c != '.' && c != '_' && c != '/' {
			return false
		}
	}
	return alnum(k[0]) && alnum(k[len(k)-1])
}
