package imagebuild

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// RootFSName is the file name of an image inside its directory.
const RootFSName = "rootfs.ext4"

// fileSHA256 returns the hex sha256 and size of the file at p.
func fileSHA256(p string) (string, int64, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, fmt.Errorf("hash %s: %w", p, err)
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// install moves image into workDir/<sha256>/rootfs.ext4 atomically: the
// file is placed in a fresh directory inside the build area (same
// filesystem), synced, and the directory renamed into place, so the
// content-addressed directory is either absent or complete. If it already
// exists it holds the same bytes and is reused.
func install(image, buildDir, workDir, sum string) (string, error) {
	stage := filepath.Join(buildDir, "out")
	if err := os.Mkdir(stage, 0o755); err != nil {
		return "", fmt.Errorf("create %s: %w", stage, err)
	}
	staged := filepath.Join(stage, RootFSName)
	if err := os.Rename(image, staged); err != nil {
		return "", fmt.Errorf("move the image into place: %w", err)
	}
	if err := syncPath(staged); err != nil {
		return "", err
	}
	if err := syncPath(stage); err != nil {
		return "", err
	}
	final := filepath.Join(workDir, sum)
	err := unix.Renameat2(unix.AT_FDCWD, stage, unix.AT_FDCWD, final, unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
		if _, serr := os.Lstat(final); serr == nil {
			err = os.ErrExist
		} else {
			err = os.Rename(stage, final)
		}
	}
	switch {
	case err == nil:
	case errors.Is(err, os.ErrExist):
		// Same sha256, same bytes: keep the one already there.
	default:
		return "", fmt.Errorf("store the image in %s: %w", final, err)
	}
	if err := syncPath(workDir); err != nil {
		return "", err
	}
	return filepath.Join(final, RootFSName), nil
}

func syncPath(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", p, err)
	}
	return nil
}
