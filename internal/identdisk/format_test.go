package identdisk

import (
	"encoding/binary"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func sample() []File {
	return []File{
		{Path: "/etc/hostname", Data: []byte("vm1\n"), Mode: 0o644},
		{Path: "/etc/banger/agent-token", Data: []byte("secret"), Mode: 0o600},
		{Path: "/etc/ssh/ssh_host_ed25519_key", Data: []byte("key"), Mode: 0o600},
		{Path: "/etc/ssh/ssh_host_ed25519_key.pub", Data: []byte{}, Mode: 0o644},
	}
}

func TestRoundTrip(t *testing.T) {
	b, err := Encode(sample())
	if err != nil {
		t.Fatal(err)
	}
	if len(b)%BlockSize != 0 {
		t.Errorf("image is %d bytes, not a multiple of %d", len(b), BlockSize)
	}
	got, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(sample(), got); diff != "" {
		t.Errorf("decoded files (-want +got):\n%s", diff)
	}
	empty, err := Encode(nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := Decode(empty); err != nil || len(got) != 0 {
		t.Errorf("empty disk decodes to %v, %v", got, err)
	}
}

func TestEncodeRefuses(t *testing.T) {
	many := make([]File, MaxFiles+1)
	for i := range many {
		many[i] = File{Path: "/etc/ssh/ssh_host_k" + string(rune('a'+i%26)) + string(rune('a'+i/26)) + "_key", Mode: 0o600}
	}
	for name, files := range map[string][]File{
		"relative":     {{Path: "etc/hostname"}},
		"traversal":    {{Path: "/etc/../root/.bashrc"}},
		"not allowed":  {{Path: "/etc/shadow"}},
		"setuid":       {{Path: "/etc/hostname", Mode: 0o4755}},
		"twice":        {{Path: "/etc/hostname"}, {Path: "/etc/hostname"}},
		"too many":     many,
		"too large":    {{Path: "/etc/hosts", Data: make([]byte, MaxPayload)}},
		"host key dot": {{Path: "/etc/ssh/ssh_host_../x_key"}},
	} {
		if _, err := Encode(files); err == nil {
			t.Errorf("%s: Encode accepted %v", name, files)
		}
	}
}

func TestAllowed(t *testing.T) {
	for p, want := range map[string]bool{
		"/etc/hostname":                     true,
		"/etc/ssh/authorized_keys.d/root":   true,
		"/etc/ssh/ssh_host_ecdsa_key.pub":   true,
		"/etc/ssh/ssh_host_ecdsa_key":       true,
		"/etc/ssh/ssh_host__key":            false,
		"/etc/ssh/ssh_host_Ecdsa_key":       false,
		"/etc/ssh/ssh_host_ecdsa_key.pub.x": false,
		"/etc/ssh/ssh_host_a/b_key":         false,
		"/etc/ssh/authorized_keys.d/alice":  false,
		"/root/.ssh/authorized_keys":        false,
	} {
		if got := Allowed(p); got != want {
			t.Errorf("Allowed(%q) = %v, want %v", p, got, want)
		}
	}
}

// raw builds a disk with a correct header around payload, so the reader's
// checks of the entries themselves are reached.
func raw(count uint32, payload []byte) []byte {
	b := append([]byte{}, magic[:]...)
	b = binary.BigEndian.AppendUint32(b, version)
	b = binary.BigEndian.AppendUint32(b, count)
	b = binary.BigEndian.AppendUint32(b, uint32(len(payload)))
	b = binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(payload))
	b = append(b, make([]byte, 8)...)
	return append(b, payload...)
}

func entry(path string, mode uint32, size uint32, data string) []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(len(path)))
	b = append(b, path...)
	b = binary.BigEndian.AppendUint32(b, mode)
	b = binary.BigEndian.AppendUint32(b, size)
	return append(b, data...)
}

func TestDecodeRefusesHostile(t *testing.T) {
	good, err := Encode(sample())
	if err != nil {
		t.Fatal(err)
	}
	flipped := append([]byte{}, good...)
	flipped[HeaderSize+3] ^= 0xff
	wrongVersion := append([]byte{}, good...)
	binary.BigEndian.PutUint32(wrongVersion[8:], 2)
	hugeCount := append([]byte{}, good...)
	binary.BigEndian.PutUint32(hugeCount[12:], 1<<30)
	hugeLength := append([]byte{}, good...)
	binary.BigEndian.PutUint32(hugeLength[16:], 1<<31)
	for name, tc := range map[string]struct {
		b    []byte
		want string
	}{
		"short":             {good[:10], "shorter than"},
		"no magic":          {make([]byte, BlockSize), "magic"},
		"version":           {wrongVersion, "version 2"},
		"checksum":          {flipped, "checksum"},
		"count past limit":  {hugeCount, "at most"},
		"length past limit": {hugeLength, "at most"},
		"payload cut":       {raw(1, entry("/etc/hostname", 0o644, 4, "vm1\n"))[:HeaderSize+5], "does not fit"},
		"data past end":     {raw(1, entry("/etc/hostname", 0o644, 1000, "vm1\n")), "claims 1000 bytes"},
		"entry cut":         {raw(2, entry("/etc/hostname", 0o644, 4, "vm1\n")), "cut short"},
		"trailing bytes":    {raw(1, append(entry("/etc/hostname", 0o644, 4, "vm1\n"), 'x')), "follow the last entry"},
		"traversal":         {raw(1, entry("/etc/../etc/shadow", 0o644, 0, "")), "not absolute and clean"},
		"relative":          {raw(1, entry("etc/hostname", 0o644, 0, "")), "not absolute and clean"},
		"not allowed":       {raw(1, entry("/etc/sudoers", 0o644, 0, "")), "not one an identity disk may write"},
		"setuid mode":       {raw(1, entry("/etc/hostname", 0o4777, 0, "")), "more than permission bits"},
		"duplicate":         {raw(2, append(entry("/etc/hostname", 0o644, 0, ""), entry("/etc/hostname", 0o644, 0, "")...)), "named twice"},
	} {
		_, err := Decode(tc.b)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Decode error %v, want one containing %q", name, err, tc.want)
		}
	}
}

func TestWriteFindReadInstall(t *testing.T) {
	dir := t.TempDir()
	sys := filepath.Join(dir, "sys")
	dev := filepath.Join(dir, "dev")
	for _, d := range []string{"vda", "vdb", "vdc", "loop0"} {
		if err := os.MkdirAll(filepath.Join(sys, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(dev, 0o755); err != nil {
		t.Fatal(err)
	}
	// vda: a root filesystem; vdb absent from dev; vdc the identity disk.
	if err := os.WriteFile(filepath.Join(dev, "vda"), make([]byte, BlockSize), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := Find(sys, dev); err != nil || got != "" {
		t.Fatalf("Find without an identity disk = %q, %v; want none", got, err)
	}
	if err := WriteFile(filepath.Join(dev, "vdc"), sample()); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(filepath.Join(dev, "vdc")); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("identity disk file: %v, %v; want mode 0600", st, err)
	}
	found, err := Find(sys, dev)
	if err != nil || found != filepath.Join(dev, "vdc") {
		t.Fatalf("Find = %q, %v; want %s", found, err, filepath.Join(dev, "vdc"))
	}
	files, err := Read(found)
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(dir, "root")
	// A link planted at a target path is replaced, not written through.
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(dir, "outside")
	if err := os.WriteFile(outside, []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(root, "etc/hostname")); err != nil {
		t.Fatal(err)
	}
	if err := Install(root, files); err != nil {
		t.Fatal(err)
	}
	for _, f := range sample() {
		p := filepath.Join(root, f.Path)
		st, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := os.ReadFile(p)
		if !st.Mode().IsRegular() || st.Mode().Perm() != os.FileMode(f.Mode) || string(got) != string(f.Data) {
			t.Errorf("%s: mode %v, content %q; want a regular file, mode %#o, content %q", f.Path, st.Mode(), got, f.Mode, f.Data)
		}
	}
	if b, _ := os.ReadFile(outside); string(b) != "keep" {
		t.Errorf("Install wrote through a planted link: outside holds %q", b)
	}
	if err := Install(root, []File{{Path: "/etc/passwd", Data: []byte("x")}}); err == nil {
		t.Error("Install accepted a path outside the allowed list")
	}
}
