package sshkeys

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"

	"golang.org/x/crypto/ssh"

	"banger/internal/errdefs"
)

// Target names the VM whose keys are pinned.
type Target struct {
	ID   string
	Name string
	IP   string // empty for a VM without an address
}

// ErrKeyChanged is the kind of error Pin returns when a VM presents a key
// that differs from the one pinned for the same key type.
var ErrKeyChanged = errors.New("host key changed")

// entry is one known_hosts line: host names, key type, base64 key.
type entry struct {
	hosts []string
	typ   string
	key   string
}

func (e entry) line() string { return strings.Join(e.hosts, ",") + " " + e.typ + " " + e.key }

func (e entry) has(host string) bool { return slices.Contains(e.hosts, host) }

// Pin records keys (OpenSSH public key lines, "type base64 [comment]") as
// the host keys of t under <name>.<domain>, t.IP and Alias(t.ID). A key of
// a type already pinned for t must be the same key: otherwise nothing is
// written and the error (kind failed_precondition, wrapping ErrKeyChanged)
// names both fingerprints. Keys of new types are added. Names and the
// address are taken away from any other VM's lines, since they now belong
// to t.
func (s *Service) Pin(t Target, keys []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	fresh := map[string]string{}
	for _, k := range keys {
		pk, _, _, _, err := ssh.ParseAuthorizedKey([]byte(k))
		if err != nil {
			return errdefs.InvalidArgumentf("VM %s reported a host key that is not an OpenSSH public key: %v", t.Name, err)
		}
		fields := strings.Fields(string(ssh.MarshalAuthorizedKey(pk)))
		fresh[fields[0]] = fields[1]
	}
	entries, err := s.read()
	if err != nil {
		return err
	}
	alias := Alias(t.ID)
	pinned := map[string]string{}
	for _, e := range entries {
		if e.has(alias) {
			pinned[e.typ] = e.key
		}
	}
	var changed []string
	for typ, key := range fresh {
		if old, ok := pinned[typ]; ok && old != key {
			changed = append(changed, fmt.Sprintf("%s %s (pinned %s)", typ, Fingerprint(typ+" "+key), Fingerprint(typ+" "+old)))
		}
	}
	if len(changed) > 0 {
		sort.Strings(changed)
		return errdefs.Wrap(errdefs.FailedPrecondition, fmt.Errorf(
			"%w: VM %s now presents %s: banger refuses it; if you replaced the guest's host keys yourself, delete the VM's lines (those naming %s) from %s",
			ErrKeyChanged, t.Name, strings.Join(changed, ", "), alias, s.KnownHostsPath()))
	}
	for typ, key := range fresh {
		pinned[typ] = key
	}
	hosts := []string{t.Name + "." + s.domain}
	if t.IP != "" {
		hosts = append(hosts, t.IP)
	}
	hosts = append(hosts, alias)
	var out []entry
	for _, e := range entries {
		if e.has(alias) {
			continue
		}
		e.hosts = slices.DeleteFunc(e.hosts, func(h string) bool { return slices.Contains(hosts, h) })
		if len(e.hosts) > 0 {
			out = append(out, e)
		}
	}
	types := make([]string, 0, len(pinned))
	for typ := range pinned {
		types = append(types, typ)
	}
	sort.Strings(types)
	for _, typ := range types {
		out = append(out, entry{hosts: hosts, typ: typ, key: pinned[typ]})
	}
	return s.write(out)
}

// Pinned returns the key lines ("type base64") pinned for VM id.
func (s *Service) Pinned(id string) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	entries, err := s.read()
	if err != nil {
		return nil, err
	}
	var keys []string
	for _, e := range entries {
		if e.has(Alias(id)) {
			keys = append(keys, e.typ+" "+e.key)
		}
	}
	return keys, nil
}

// Unpin removes every line of VM id. A VM with no pins is not an error.
func (s *Service) Unpin(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	entries, err := s.read()
	if err != nil {
		return err
	}
	out := slices.DeleteFunc(slices.Clone(entries), func(e entry) bool { return e.has(Alias(id)) })
	if len(out) == len(entries) {
		return nil
	}
	return s.write(out)
}

// read parses known_hosts; a missing file has no entries. Lines banger did
// not write (comments, markers, hashed names) are kept as they are.
func (s *Service) read() ([]entry, error) {
	data, err := os.ReadFile(s.KnownHostsPath())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, errdefs.Internalf("read banger's known_hosts: %w", err)
	}
	var entries []entry
	for _, l := range strings.Split(string(data), "\n") {
		f := strings.Fields(l)
		if len(f) < 3 || strings.HasPrefix(f[0], "#") || strings.HasPrefix(f[0], "@") {
			if strings.TrimSpace(l) != "" {
				entries = append(entries, entry{hosts: []string{l}})
			}
			continue
		}
		entries = append(entries, entry{hosts: strings.Split(f[0], ","), typ: f[1], key: f[2]})
	}
	return entries, nil
}

func (s *Service) write(entries []entry) error {
	var b bytes.Buffer
	for _, e := range entries {
		if e.typ == "" { // a line kept verbatim
			b.WriteString(e.hosts[0])
		} else {
			b.WriteString(e.line())
		}
		b.WriteByte('\n')
	}
	if old, err := os.ReadFile(s.KnownHostsPath()); err == nil && bytes.Equal(old, b.Bytes()) {
		return nil // pinned again, unchanged: ssh may be reading it right now
	}
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return errdefs.Internalf("create the SSH directory %s: %w", s.dir, err)
	}
	return writeFileAtomic(s.KnownHostsPath(), b.Bytes(), 0o600)
}
