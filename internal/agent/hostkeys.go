package agent

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"banger/internal/agent/proto"
	"banger/internal/errdefs"
)

func (h *handler) handleHostKeys(w http.ResponseWriter, r *http.Request) {
	dir := h.HostKeyDir
	if dir == "" {
		dir = "/etc/ssh"
	}
	keys, err := hostKeys(dir)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, keys)
}

// maxKeyFile bounds a public key file; RSA-16384 keys are about 3 KiB.
const maxKeyFile = 64 << 10

// hostKeys reads dir/ssh_host_*_key.pub, sorted by file name.
func hostKeys(dir string) ([]proto.HostKey, error) {
	files, err := filepath.Glob(filepath.Join(dir, "ssh_host_*_key.pub"))
	if err != nil {
		return nil, errdefs.Internalf("list host keys in %s: %w", dir, err)
	}
	sort.Strings(files)
	keys := []proto.HostKey{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, errdefs.Internalf("read host key: %w", err)
		}
		if len(data) > maxKeyFile {
			return nil, errdefs.Internalf("host key %s is larger than %d bytes: it is not an OpenSSH public key", f, maxKeyFile)
		}
		k, err := parsePublicKey(string(data))
		if err != nil {
			return nil, errdefs.Internalf("host key %s: %w", f, err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// parsePublicKey parses one OpenSSH public key line ("type base64
// [comment]"), checks that the blob names the same type, and computes the
// fingerprint as ssh-keygen -lf does.
func parsePublicKey(line string) (proto.HostKey, error) {
	fields := strings.Fields(line)
	if len(fields) < 2 {
		return proto.HostKey{}, errdefs.Internalf("not an OpenSSH public key line: want \"type base64 [comment]\"")
	}
	blob, err := base64.StdEncoding.DecodeString(fields[1])
	if err != nil {
		return proto.HostKey{}, errdefs.Internalf("public key is not valid base64: %w", err)
	}
	if len(blob) < 4 {
		return proto.HostKey{}, errdefs.Internalf("public key blob is too short")
	}
	n := binary.BigEndian.Uint32(blob)
	if uint64(n) > uint64(len(blob)-4) || !bytes.Equal(blob[4:4+n], []byte(fields[0])) {
		return proto.HostKey{}, errdefs.Internalf("public key blob does not name type %q", fields[0])
	}
	sum := sha256.Sum256(blob)
	return proto.HostKey{
		Type:        fields[0],
		PublicKey:   fields[0] + " " + fields[1],
		Fingerprint: "SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:]),
	}, nil
}
