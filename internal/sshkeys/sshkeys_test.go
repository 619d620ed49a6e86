package sshkeys

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/crypto/ssh"

	"banger/internal/errdefs"
)

func newKey(t *testing.T) string {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k)))
}

func newECDSAKey(t *testing.T) string {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ssh.NewPublicKey(&priv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k)))
}

func TestAuthorizedKeyMadeOnceAndPrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ssh")
	s := New(dir, "", nil)
	line, err := s.AuthorizedKey()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(line, "ssh-ed25519 ") || !strings.HasSuffix(line, " banger\n") {
		t.Errorf("authorized key line = %q, want ssh-ed25519 ... banger", line)
	}
	fi, err := os.Stat(s.KeyPath())
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("private key mode = %04o, want 0600", fi.Mode().Perm())
	}
	di, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if di.Mode().Perm() != 0o700 {
		t.Errorf("directory mode = %04o, want 0700", di.Mode().Perm())
	}
	data, err := os.ReadFile(s.KeyPath())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(data), "-----BEGIN OPENSSH PRIVATE KEY-----") {
		t.Errorf("private key is not in OpenSSH format:\n%s", data)
	}
	pub, err := os.ReadFile(s.KeyPath() + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	if string(pub) != line {
		t.Errorf(".pub = %q, want %q", pub, line)
	}
	// A second service over the same directory (a restarted daemon) keeps the key.
	again, err := New(dir, "", nil).AuthorizedKey()
	if err != nil {
		t.Fatal(err)
	}
	if again != line {
		t.Errorf("key changed across restarts: %q, then %q", line, again)
	}
}

func TestAuthorizedKeyRefusesReadableKey(t *testing.T) {
	s := New(t.TempDir(), "", nil)
	if _, err := s.AuthorizedKey(); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(s.KeyPath(), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := s.AuthorizedKey()
	if !errdefs.Is(err, errdefs.FailedPrecondition) || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("AuthorizedKey with a 0644 key = %v, want failed_precondition saying chmod 600", err)
	}
}

func readKnownHosts(t *testing.T, s *Service) string {
	t.Helper()
	b, err := os.ReadFile(s.KnownHostsPath())
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestPinWritesNamesAddressAndAlias(t *testing.T) {
	s := New(t.TempDir(), "vm", nil)
	ed, ec := newKey(t), newECDSAKey(t)
	if err := s.Pin(Target{ID: "abc", Name: "dev", IP: "172.30.0.2"}, []string{ed + " root@dev", ec}); err != nil {
		t.Fatal(err)
	}
	hosts := "dev.vm,172.30.0.2,banger-vm-abc "
	want := hosts + ec + "\n" + hosts + ed + "\n"
	if diff := cmp.Diff(want, readKnownHosts(t, s)); diff != "" {
		t.Errorf("known_hosts (-want +got):\n%s", diff)
	}
	fi, err := os.Stat(s.KnownHostsPath())
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("known_hosts mode = %04o, want 0600", fi.Mode().Perm())
	}
	// Pinning the same keys again changes nothing.
	if err := s.Pin(Target{ID: "abc", Name: "dev", IP: "172.30.0.2"}, []string{ec, ed}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, readKnownHosts(t, s)); diff != "" {
		t.Errorf("known_hosts after the same pin (-want +got):\n%s", diff)
	}
}

func TestPinRefusesChangedKey(t *testing.T) {
	s := New(t.TempDir(), "vm", nil)
	target := Target{ID: "abc", Name: "dev"}
	first := newKey(t)
	if err := s.Pin(target, []string{first}); err != nil {
		t.Fatal(err)
	}
	before := readKnownHosts(t, s)
	err := s.Pin(target, []string{newKey(t)})
	if !errdefs.Is(err, errdefs.FailedPrecondition) {
		t.Fatalf("pin of a changed key = %v, want failed_precondition", err)
	}
	for _, want := range []string{"dev", Fingerprint(first), s.KnownHostsPath()} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
	if after := readKnownHosts(t, s); after != before {
		t.Errorf("known_hosts changed on a refused pin:\nbefore %q\nafter  %q", before, after)
	}
	got, err := s.Pinned("abc")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{first}, got); diff != "" {
		t.Errorf("pinned keys (-want +got):\n%s", diff)
	}
}

func TestPinAddsNewTypesAndTakesOverNames(t *testing.T) {
	s := New(t.TempDir(), "vm", nil)
	old := newKey(t)
	// A VM that was deleted while its pins stayed (an old daemon) had the
	// same name and address.
	if err := s.Pin(Target{ID: "old", Name: "dev", IP: "172.30.0.2"}, []string{old}); err != nil {
		t.Fatal(err)
	}
	k := newKey(t)
	if err := s.Pin(Target{ID: "new", Name: "dev", IP: "172.30.0.2"}, []string{k}); err != nil {
		t.Fatal(err)
	}
	want := "banger-vm-old " + old + "\n" + "dev.vm,172.30.0.2,banger-vm-new " + k + "\n"
	if diff := cmp.Diff(want, readKnownHosts(t, s)); diff != "" {
		t.Errorf("known_hosts (-want +got):\n%s", diff)
	}
}

func TestUnpinRemovesOnlyThatVM(t *testing.T) {
	s := New(t.TempDir(), "vm", nil)
	a, b := newKey(t), newKey(t)
	if err := os.WriteFile(s.KnownHostsPath(), []byte("# kept\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.Pin(Target{ID: "a", Name: "one"}, []string{a}); err != nil {
		t.Fatal(err)
	}
	if err := s.Pin(Target{ID: "b", Name: "two"}, []string{b}); err != nil {
		t.Fatal(err)
	}
	if err := s.Unpin("a"); err != nil {
		t.Fatal(err)
	}
	if err := s.Unpin("never-pinned"); err != nil {
		t.Fatal(err)
	}
	want := "# kept\n" + "two.vm,banger-vm-b " + b + "\n"
	if diff := cmp.Diff(want, readKnownHosts(t, s)); diff != "" {
		t.Errorf("known_hosts (-want +got):\n%s", diff)
	}
}

func TestPinRefusesGarbage(t *testing.T) {
	s := New(t.TempDir(), "vm", nil)
	err := s.Pin(Target{ID: "a", Name: "one"}, []string{"ssh-ed25519 notbase64!"})
	if !errdefs.Is(err, errdefs.InvalidArgument) {
		t.Errorf("pin of garbage = %v, want invalid_argument", err)
	}
}
