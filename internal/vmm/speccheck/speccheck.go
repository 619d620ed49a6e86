// Package speccheck holds the checks of vmm.Spec fields that every VMM
// driver applies the same way, so that a spec one driver accepts the other
// accepts too, with the same messages. Each check names the field; Join
// reports every problem at once as one InvalidArgument error. It touches
// the host only to stat the files a spec names.
package speccheck

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"banger/internal/errdefs"
)

// MaxID is the longest VM id a driver accepts (Firecracker's --id limit).
const MaxID = 64

// ID checks a VM id: 1-64 letters, digits and '-', which Firecracker's
// --id takes and which is safe in every path and option banger builds.
func ID(id string) []error {
	if id == "" {
		return []error{errors.New("ID: is empty")}
	}
	if len(id) > MaxID {
		return []error{fmt.Errorf("ID: %q is longer than %d characters", id, MaxID)}
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
			return []error{fmt.Errorf("ID: %q may only contain letters, digits and '-'", id)}
		}
	}
	return nil
}

// Abs checks that path is set and absolute.
func Abs(field, path string) error {
	if path == "" {
		return fmt.Errorf("%s: is empty", field)
	}
	if !filepath.IsAbs(path) {
		return fmt.Errorf("%s: %q is not an absolute path", field, path)
	}
	return nil
}

// File checks that path is an absolute path to an existing regular file
// (or block device). An empty path is an error only when required.
func File(field, path string, required bool) error {
	if path == "" && !required {
		return nil
	}
	if err := Abs(field, path); err != nil {
		return err
	}
	info, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%s: %s does not exist", field, path)
		}
		return fmt.Errorf("%s: %w", field, err)
	}
	if !info.Mode().IsRegular() && info.Mode()&os.ModeDevice == 0 {
		return fmt.Errorf("%s: %s is not a file", field, path)
	}
	return nil
}

// Append adds err to errs unless it is nil.
func Append(errs []error, err error) []error {
	if err != nil {
		return append(errs, err)
	}
	return errs
}

// Join turns the problems found in a spec into one InvalidArgument error,
// or nil when there are none.
func Join(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	return errdefs.Wrap(errdefs.InvalidArgument, fmt.Errorf("invalid vm spec: %w", errors.Join(errs...)))
}
