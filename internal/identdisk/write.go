package identdisk

import (
	"fmt"
	"os"
	"path/filepath"
)

// WriteFile writes the identity disk holding files to path, mode 0600 (it
// carries the agent token), replacing what was there atomically.
func WriteFile(path string, files []File) error {
	b, err := Encode(files)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".identity-*")
	if err != nil {
		return fmt.Errorf("write identity disk: %w", err)
	}
	name := tmp.Name()
	defer os.Remove(name)
	_, err = tmp.Write(b)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(name, path)
	}
	if err != nil {
		return fmt.Errorf("write identity disk %s: %w", path, err)
	}
	return nil
}
