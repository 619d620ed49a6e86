package imagebuild

import (
	"debug/elf"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeTree creates files (relative path → content) under dir; a content
// starting with "->" makes a symlink to the rest.
func writeTree(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if target, ok := strings.CutPrefix(content, "->"); ok {
			if err := os.Symlink(target, p); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// fakeDebianTree is the part of a bootstrapped Debian tree configure
// touches, with the things it must change.
var fakeDebianTree = map[string]string{
	"etc/shadow":                       "root:*:20000:0:99999:7:::\ndaemon:*:20000:0:99999:7:::\n",
	"etc/machine-id":                   "0123456789abcdef0123456789abcdef\n",
	"var/lib/dbus/machine-id":          "->/etc/machine-id",
	"etc/ssh/ssh_host_ed25519_key":     "private",
	"etc/ssh/ssh_host_ed25519_key.pub": "public",
	"etc/ssh/ssh_host_rsa_key":         "private",
	"etc/ssh/sshd_config":              "Include /etc/ssh/sshd_config.d/*.conf\n",
	"etc/hostname":                     "buildhost\n",
	"etc/skel/.bashrc":                 "# skel\n",
	"var/lib/apt/lists/lock":           "",
	"var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_InRelease": "x",
	"var/cache/apt/pkgcache.bin":                                       "x",
	"var/cache/apt/archives/lock":                                      "",
	"var/cache/apt/archives/git_2.39_amd64.deb":                        "x",
	"etc/systemd/system/timers.target.wants/apt-daily.timer":           "->/lib/systemd/system/apt-daily.timer",
	"etc/systemd/system/timers.target.wants/fstrim.timer":              "->/lib/systemd/system/fstrim.timer",
	"etc/systemd/system/multi-user.target.wants/ssh.service":           "->/lib/systemd/system/ssh.service",
}

// writeELF writes a minimal x86_64 ELF executable at p, with a PT_INTERP
// program header when dynamic is set.
func writeELF(t testing.TB, p string, dynamic bool) {
	t.Helper()
	const ehsize, phsize = 64, 56
	nph := 1
	if dynamic {
		nph = 2
	}
	b := make([]byte, ehsize+phsize*nph)
	le := binary.LittleEndian
	copy(b, elf.ELFMAG)
	b[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	b[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	b[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	le.PutUint16(b[16:], uint16(elf.ET_EXEC))
	le.PutUint16(b[18:], uint16(elf.EM_X86_64))
	le.PutUint32(b[20:], uint32(elf.EV_CURRENT))
	le.PutUint64(b[32:], ehsize)
	le.PutUint16(b[52:], ehsize)
	le.PutUint16(b[54:], phsize)
	le.PutUint16(b[56:], uint16(nph))
	le.PutUint32(b[ehsize:], uint32(elf.PT_LOAD))
	if dynamic {
		le.PutUint32(b[ehsize+phsize:], uint32(elf.PT_INTERP))
	}
	if err := os.WriteFile(p, b, 0o755); err != nil {
		t.Fatal(err)
	}
}
