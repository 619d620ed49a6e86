package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"banger/internal/identdisk"
)

// TestApplyIdentity: the files of the disk found among the virtio disks
// are installed under the root and the machine is named after its
// hostname; without a disk nothing changes; a damaged disk is an error
// and installs nothing.
func TestApplyIdentity(t *testing.T) {
	dir := t.TempDir()
	p := identityPaths{sysBlock: filepath.Join(dir, "sys"), dev: filepath.Join(dir, "dev"), root: filepath.Join(dir, "root")}
	for _, d := range []string{filepath.Join(p.sysBlock, "vda"), filepath.Join(p.sysBlock, "vdb"), p.dev, filepath.Join(p.root, "etc")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(p.root, "etc/hostname"), []byte("banger\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var named []string
	sethostname := func(b []byte) error { named = append(named, string(b)); return nil }
	var out bytes.Buffer
	if err := applyIdentity(p, sethostname, &out); err != nil {
		t.Fatalf("without a disk: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(p.root, "etc/hostname")); string(b) != "banger\n" || len(named) != 0 {
		t.Fatalf("without a disk: hostname file %q, names set %q; want both unchanged", b, named)
	}

	files := []identdisk.File{
		{Path: "/etc/hostname", Data: []byte("vm-7\n"), Mode: 0o644},
		{Path: "/etc/banger/agent-token", Data: []byte("tok"), Mode: 0o600},
	}
	if err := identdisk.WriteFile(filepath.Join(p.dev, "vdb"), files); err != nil {
		t.Fatal(err)
	}
	if err := applyIdentity(p, sethostname, &out); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		st, err := os.Stat(filepath.Join(p.root, f.Path))
		b, _ := os.ReadFile(filepath.Join(p.root, f.Path))
		if err != nil || string(b) != string(f.Data) || st.Mode().Perm() != os.FileMode(f.Mode) {
			t.Errorf("%s: %q, %v; want %q mode %#o", f.Path, b, err, f.Data, f.Mode)
		}
	}
	if len(named) != 1 || named[0] != "vm-7" {
		t.Errorf("hostnames set: %q, want [vm-7]", named)
	}

	disk, _ := os.ReadFile(filepath.Join(p.dev, "vdb"))
	disk[identdisk.HeaderSize+1] ^= 0xff
	if err := os.WriteFile(filepath.Join(p.dev, "vdb"), disk, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(p.root, "etc/banger/agent-token")); err != nil {
		t.Fatal(err)
	}
	err := applyIdentity(p, sethostname, &out)
	if err == nil || !strings.Contains(err.Error(), "checksum") {
		t.Errorf("damaged disk: %v, want a checksum error", err)
	}
	if _, err := os.Stat(filepath.Join(p.root, "etc/banger/agent-token")); !os.IsNotExist(err) {
		t.Errorf("damaged disk installed the token anyway: %v", err)
	}
}
