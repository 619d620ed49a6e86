package sshkeys

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/ssh"

	"banger/internal/errdefs"
)

// Files inside the service's directory.
const (
	keyFile        = "id_ed25519"
	knownHostsFile = "known_hosts"
)

// KeyPath is the private key ssh is pointed at with -i / IdentityFile.
func (s *Service) KeyPath() string { return filepath.Join(s.dir, keyFile) }

// KnownHostsPath is banger's known_hosts (UserKnownHostsFile).
func (s *Service) KnownHostsPath() string { return filepath.Join(s.dir, knownHostsFile) }

// Domain is the name suffix VMs are pinned under (<name>.<Domain>).
func (s *Service) Domain() string { return s.domain }

// AuthorizedKey returns the public key as an authorized_keys line, making
// the key pair first when there is none.
func (s *Service) AuthorizedKey() (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	signer, err := s.loadOrCreate()
	if err != nil {
		return "", err
	}
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey())))
	return line + " banger\n", nil
}

// loadOrCreate reads the private key, or makes and writes a new one when
// the file does not exist. The caller holds s.mu.
func (s *Service) loadOrCreate() (ssh.Signer, error) {
	path := s.KeyPath()
	data, err := os.ReadFile(path)
	if err == nil {
		if err := checkKeyMode(path); err != nil {
			return nil, err
		}
		signer, err := ssh.ParsePrivateKey(data)
		if err != nil {
			return nil, errdefs.FailedPreconditionf("banger's SSH key %s cannot be read (%v): remove it and banger makes a new one, then restart the VMs so they learn it", path, err)
		}
		return signer, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, errdefs.Internalf("read banger's SSH key: %w", err)
	}
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return nil, errdefs.Internalf("create the SSH directory %s: %w", s.dir, err)
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, errdefs.Internalf("make an ed25519 key: %w", err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "banger")
	if err != nil {
		return nil, errdefs.Internalf("encode the SSH key: %w", err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		return nil, errdefs.Internalf("encode the SSH public key: %w", err)
	}
	if err := writeFileAtomic(path, pem.EncodeToMemory(block), 0o600); err != nil {
		return nil, err
	}
	pubLine := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sshPub))) + " banger\n"
	if err := writeFileAtomic(path+".pub", []byte(pubLine), 0o644); err != nil {
		return nil, err
	}
	s.log.Info("made banger's SSH key", "path", path)
	return ssh.NewSignerFromKey(priv)
}

// checkKeyMode refuses a private key others can read: ssh refuses it too,
// with a less helpful message.
func checkKeyMode(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return errdefs.Internalf("stat banger's SSH key: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return errdefs.FailedPreconditionf("banger's SSH key %s has mode %04o: run chmod 600 %s", path, fi.Mode().Perm(), path)
	}
	return nil
}

// writeFileAtomic writes data to a temporary file next to path and renames
// it over path, so readers (ssh) never see half a file.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return errdefs.Internalf("write %s: %w", path, err)
	}
	tmp := f.Name()
	_, werr := f.Write(data)
	if werr == nil {
		werr = f.Chmod(mode)
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp, path)
	}
	if werr != nil {
		_ = os.Remove(tmp)
		return errdefs.Internalf("write %s: %w", path, werr)
	}
	return nil
}

// Fingerprint is the SHA256 fingerprint of an OpenSSH public key line, as
// ssh-keygen -l prints it, or the line itself when it does not parse.
func Fingerprint(line string) string {
	k, _, _, _, err := ssh.ParseAuthorizedKey([]byte(line))
	if err != nil {
		return fmt.Sprintf("%.40q", line)
	}
	return ssh.FingerprintSHA256(k)
}
