// Package fctest is test support for code that drives Firecracker: it
// builds the fake Firecracker (banger/internal/vmm/firecracker/fakefc) once
// per test binary, reads the request records the fake writes to
// FAKEFC_RECORD, and writes a minimal kernel image the fake's InstanceStart
// accepts. Only tests may import it; it must not depend on anything but the
// standard library.
package fctest

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakePackage is the import path of the fake.
const fakePackage = "banger/internal/vmm/firecracker/fakefc"

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
)

// Build builds the fake once per test binary and returns the path of the
// executable, which is named "firecracker". It is statically linked, so it
// also runs inside a chroot. The build is cached by content under the
// user's cache directory (or a temporary directory), so its path outlives
// the test that asked for it. Build fails t with the build output on error.
func Build(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() { buildPath, buildErr = build() })
	if buildErr != nil {
		t.Fatalf("build fake firecracker: %v", buildErr)
	}
	return buildPath
}

func build() (string, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("find the go command: %w: run the tests with `go test`, which puts it on PATH", err)
	}
	cache, err := cacheDir()
	if err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(cache, "build-")
	if err != nil {
		return "", fmt.Errorf("create build directory: %w", err)
	}
	defer os.RemoveAll(tmp)
	out := filepath.Join(tmp, "firecracker")
	cmd := exec.Command(goBin, "build", "-trimpath", "-o", out, fakePackage)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if output, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", fakePackage, err, output)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		return "", fmt.Errorf("read built fake: %w", err)
	}
	sum := sha256.Sum256(data)
	dir := filepath.Join(cache, hex.EncodeToString(sum[:8]))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("create fake cache entry: %w", err)
	}
	dest := filepath.Join(dir, "firecracker")
	// Identical sources build identical binaries, so replacing an entry
	// another test binary is using changes nothing it can see.
	if err := os.Rename(out, dest); err != nil {
		return "", fmt.Errorf("store built fake: %w", err)
	}
	pruneCache(cache, dir)
	return dest, nil
}

// cacheDir is a private directory for built fakes.
func cacheDir() (string, error) {
	if base, err := os.UserCacheDir(); err == nil {
		dir := filepath.Join(base, "banger-test", "fakefc")
		if err := os.MkdirAll(dir, 0o700); err == nil {
			return dir, nil
		}
	}
	dir, err := os.MkdirTemp("", "fakefc-")
	if err != nil {
		return "", fmt.Errorf("create a directory for the fake firecracker: %w", err)
	}
	return dir, nil
}

// pruneCache removes entries for other source versions that are more than
// a day old; nothing still running can be using them.
func pruneCache(cache, keep string) {
	entries, err := os.ReadDir(cache)
	if err != nil {
		return
	}
	for _, e := range entries {
		p := filepath.Join(cache, e.Name())
		info, err := e.Info()
		if err != nil || p == keep || time.Since(info.ModTime()) < 24*time.Hour {
			continue
		}
		os.RemoveAll(p)
	}
}

// Request is one API request the fake answered, as recorded in the
// FAKEFC_RECORD file. Body is the request's JSON body (compacted), nil
// when there was none; a body that was not JSON is recorded as a JSON
// string. Status is the HTTP status the fake answered with.
type Request struct {
	Method string          `json:"method"`
	Path   string          `json:"path"`
	Body   json.RawMessage `json:"body"`
	Status int             `json:"status"`
}

// ReadRecord parses the FAKEFC_RECORD file at path, in request order. A
// file that does not exist means no request was made.
func ReadRecord(t testing.TB, path string) []Request {
	t.Helper()
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatalf("read fake firecracker record: %v", err)
	}
	reqs, err := parseRecord(data)
	if err != nil {
		t.Fatalf("parse fake firecracker record %s: %v", path, err)
	}
	return reqs
}

func parseRecord(data []byte) ([]Request, error) {
	var reqs []Request
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var r Request
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		if string(r.Body) == "null" {
			r.Body = nil
		}
		reqs = append(reqs, r)
	}
	return reqs, sc.Err()
}

// WriteKernel writes at path a minimal x86_64 ELF executable with one
// loadable segment: what the fake's InstanceStart accepts (real Firecracker
// on x86_64 loads only ELF vmlinux images) and what banger's image
// registration recognises as a vmlinux.
func WriteKernel(t testing.TB, path string) {
	t.Helper()
	const ehsize, phsize = 64, 56
	b := make([]byte, ehsize+phsize)
	le := binary.LittleEndian
	copy(b, elf.ELFMAG)
	b[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	b[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	b[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	le.PutUint16(b[16:], uint16(elf.ET_EXEC))
	le.PutUint16(b[18:], uint16(elf.EM_X86_64))
	le.PutUint32(b[20:], uint32(elf.EV_CURRENT))
	le.PutUint64(b[24:], 0x1000000) // entry
	le.PutUint64(b[32:], ehsize)    // program headers follow the header
	le.PutUint16(b[52:], ehsize)
	le.PutUint16(b[54:], phsize)
	le.PutUint16(b[56:], 1) // one program header
	ph := b[ehsize:]
	le.PutUint32(ph[0:], uint32(elf.PT_LOAD))
	le.PutUint32(ph[4:], uint32(elf.PF_R|elf.PF_X))
	le.PutUint64(ph[16:], 0x1000000)      // vaddr
	le.PutUint64(ph[24:], 0x1000000)      // paddr
	le.PutUint64(ph[32:], uint64(len(b))) // filesz
	le.PutUint64(ph[40:], uint64(len(b))) // memsz
	le.PutUint64(ph[48:], 0x1000)         // align
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatalf("write fake kernel: %v", err)
	}
}
