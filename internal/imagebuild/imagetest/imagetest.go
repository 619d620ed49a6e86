// Package imagetest is test support for code that needs banger's real
// default image: it builds it once per machine into a shared cache
// (flock-guarded, since several test binaries run at once) and hands out
// its path. Tests must treat the image as read-only and copy it before
// changing it. Only tests may import this package.
package imagetest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"banger/internal/imagebuild"
	"banger/internal/testtier"
)

// agentPackage is the guest agent embedded in the image.
const agentPackage = "banger/cmd/banger-agent"

var (
	once     sync.Once
	rootfs   string
	skipWhy  string
	buildErr error
)

// RootFS returns the path of the default image built from the current
// recipe and agent source, building it (about 1-2 minutes, network needed)
// if no test binary on this machine has yet. It skips the test when the
// host cannot build images (no mmdebstrap or debootstrap, not root).
func RootFS(t testing.TB) string {
	t.Helper()
	testtier.Guest(t) // building the image takes minutes, as root
	once.Do(func() { rootfs, skipWhy, buildErr = prepare(t) })
	if skipWhy != "" {
		t.Skip(skipWhy)
	}
	if buildErr != nil {
		t.Fatalf("build the default image: %v", buildErr)
	}
	return rootfs
}

// AgentBinary builds cmd/banger-agent statically into dir and returns its
// path.
func AgentBinary(dir string) (string, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("find the go command: %w", err)
	}
	out := filepath.Join(dir, "banger-agent")
	cmd := exec.Command(goBin, "build", "-trimpath", "-o", out, agentPackage)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", agentPackage, err, b)
	}
	return out, nil
}

func prepare(t testing.TB) (path, skip string, err error) {
	_, e1 := exec.LookPath("mmdebstrap")
	_, e2 := exec.LookPath("debootstrap")
	if e1 != nil && e2 != nil && !exists("/usr/sbin/debootstrap") {
		return "", "needs mmdebstrap or debootstrap to build the default image: apt-get install mmdebstrap", nil
	}
	cache, err := cacheDir()
	if err != nil {
		return "", "", err
	}
	tmp, err := os.MkdirTemp(cache, "agent-")
	if err != nil {
		return "", "", err
	}
	defer os.RemoveAll(tmp)
	agent, err := AgentBinary(tmp)
	if err != nil {
		return "", "", err
	}
	opts := imagebuild.Options{AgentBinary: agent}
	key, err := cacheKey(opts, agent)
	if err != nil {
		return "", "", err
	}
	dir := filepath.Join(cache, key)
	final := filepath.Join(dir, imagebuild.RootFSName)
	unlock, err := lock(filepath.Join(cache, key+".lock"))
	if err != nil {
		return "", "", err
	}
	defer unlock()
	if exists(final) {
		return final, "", nil
	}
	opts.WorkDir = filepath.Join(cache, "work-"+key)
	start := time.Now()
	res, err := imagebuild.Build(context.Background(), opts, func(p imagebuild.Progress) {
		if p.Detail == "" {
			t.Logf("image build: step %d/%d %s (%s)", p.Index, p.Total, p.Step, time.Since(start).Round(time.Second))
		}
	})
	if err != nil {
		os.RemoveAll(opts.WorkDir)
		return "", "", err
	}
	t.Logf("image build: %d MiB in %s", res.Size>>20, time.Since(start).Round(time.Second))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", err
	}
	if err := os.Rename(res.RootFS, final); err != nil {
		return "", "", err
	}
	os.RemoveAll(opts.WorkDir)
	prune(cache, key)
	return final, "", nil
}

// cacheKey hashes the build recipe and the agent binary.
func cacheKey(o imagebuild.Options, agent string) (string, error) {
	data, err := os.ReadFile(agent)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	fmt.Fprintln(h, o.Recipe())
	h.Write(data)
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

// cacheDir is $XDG_CACHE_HOME (or ~/.cache)/banger-test/image.
func cacheDir() (string, error) {
	base, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("find the cache directory: %w: set XDG_CACHE_HOME", err)
	}
	dir := filepath.Join(base, "banger-test", "image")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	return dir, nil
}

// lock takes an exclusive flock on path, waiting for other test binaries.
func lock(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}

// prune removes images of other keys unused for a day.
func prune(cache, keep string) {
	entries, err := os.ReadDir(cache)
	if err != nil {
		return
	}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil || !e.IsDir() || e.Name() == keep || time.Since(info.ModTime()) < 24*time.Hour {
			continue
		}
		os.RemoveAll(filepath.Join(cache, e.Name()))
		os.Remove(filepath.Join(cache, e.Name()+".lock"))
	}
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
