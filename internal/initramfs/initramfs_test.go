package initramfs

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"banger/internal/errdefs"
	"banger/internal/initramfs/initlayout"
)

// fakeModule is a minimal ELF64 relocatable object whose only content is a
// .modinfo section with the given key=value entries.
func fakeModule(kv ...string) []byte {
	var modinfo []byte
	for _, s := range kv {
		modinfo = append(append(modinfo, s...), 0)
	}
	shstr := []byte("\x00.modinfo\x00.shstrtab\x00")
	le := binary.LittleEndian
	b := make([]byte, 64)
	copy(b, "\x7fELF")
	b[4], b[5], b[6] = 2, 1, 1
	le.PutUint16(b[16:], 1) // ET_REL
	le.PutUint16(b[18:], 62)
	le.PutUint32(b[20:], 1)
	le.PutUint16(b[52:], 64)
	le.PutUint16(b[58:], 64)
	modOff := uint64(len(b))
	b = append(b, modinfo...)
	strOff := uint64(len(b))
	b = append(b, shstr...)
	for len(b)%8 != 0 {
		b = append(b, 0)
	}
	shoff := uint64(len(b))
	le.PutUint64(b[40:], shoff)
	le.PutUint16(b[60:], 3) // shnum
	le.PutUint16(b[62:], 2) // shstrndx
	sh := func(name uint32, typ uint32, off, size uint64) {
		s := make([]byte, 64)
		le.PutUint32(s[0:], name)
		le.PutUint32(s[4:], typ)
		le.PutUint64(s[24:], off)
		le.PutUint64(s[32:], size)
		le.PutUint64(s[48:], 1)
		b = append(b, s...)
	}
	sh(0, 0, 0, 0)
	sh(1, 1, modOff, uint64(len(modinfo))) // SHT_PROGBITS
	sh(10, 3, strOff, uint64(len(shstr)))  // SHT_STRTAB
	return b
}

const release = "6.1.0-57-cloud-amd64"

func vermagic(r string) string { return "vermagic=" + r + " SMP preempt mod_unload modversions " }

func TestParseModinfo(t *testing.T) {
	m, err := ParseModinfo(fakeModule("license=GPL", "depends=virtio,virtio_ring", "name=virtio-rng", vermagic(release)))
	if err != nil {
		t.Fatal(err)
	}
	want := Modinfo{Name: "virtio_rng", Depends: []string{"virtio", "virtio_ring"}, Vermagic: release + " SMP preempt mod_unload modversions "}
	if diff := cmp.Diff(want, m); diff != "" {
		t.Errorf("ParseModinfo (-want +got):\n%s", diff)
	}
	if m.Release() != release {
		t.Errorf("Release = %q", m.Release())
	}
	m, err = ParseModinfo(fakeModule("name=virtio", "depends="))
	if err != nil || len(m.Depends) != 0 {
		t.Errorf("empty depends = %+v, %v", m, err)
	}
	for name, data := range map[string][]byte{
		"not an ELF": []byte("hello"),
		"no name":    fakeModule("license=GPL"),
		"truncated":  fakeModule("name=x")[:70],
		"nothing":    nil,
	} {
		if _, err := ParseModinfo(data); err == nil {
			t.Errorf("%s: ParseModinfo succeeded", name)
		}
	}
}

func TestCheckVermagic(t *testing.T) {
	good := Modinfo{Name: "virtio_blk", Vermagic: release + " SMP preempt"}
	if err := CheckVermagic(good, release); err != nil {
		t.Errorf("matching vermagic: %v", err)
	}
	for _, bad := range []Modinfo{
		{Name: "virtio_blk", Vermagic: "6.1.0-56-cloud-amd64 SMP preempt"},
		{Name: "virtio_blk", Vermagic: release + "-extra SMP"},
		{Name: "virtio_blk", Vermagic: ""},
	} {
		err := CheckVermagic(bad, release)
		if !errdefs.Is(err, errdefs.FailedPrecondition) || !strings.Contains(err.Error(), "module virtio_blk was built for kernel") {
			t.Errorf("CheckVermagic(%q) = %v, want a clear mismatch", bad.Vermagic, err)
		}
	}
}

func TestResolve(t *testing.T) {
	mods := map[string]Modinfo{
		"virtio_mmio":                       {Name: "virtio_mmio", Depends: []string{"virtio", "virtio_ring"}},
		"virtio":                            {Name: "virtio"},
		"virtio_ring":                       {Name: "virtio_ring"},
		"virtio_net":                        {Name: "virtio_net", Depends: []string{"net_failover", "virtio", "virtio_ring"}},
		"net_failover":                      {Name: "net_failover", Depends: []string{"failover"}},
		"failover":                          {Name: "failover"},
		"vmw_vsock_virtio_transport":        {Name: "vmw_vsock_virtio_transport", Depends: []string{"vmw_vsock_virtio_transport_common", "virtio", "virtio_ring", "vsock"}},
		"vmw_vsock_virtio_transport_common": {Name: "vmw_vsock_virtio_transport_common", Depends: []string{"vsock"}},
		"vsock":                             {Name: "vsock"},
		"uses_builtin":                      {Name: "uses_builtin", Depends: []string{"crc32c_generic"}},
		"a":                                 {Name: "a", Depends: []string{"b"}},
		"b":                                 {Name: "b", Depends: []string{"a"}},
		"broken":                            {Name: "broken", Depends: []string{"gone"}},
	}
	got, err := Resolve([]string{"virtio_mmio", "virtio-net", "vmw_vsock_virtio_transport", "uses_builtin"}, mods, map[string]bool{"crc32c_generic": true})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"virtio", "virtio_ring", "virtio_mmio", "failover", "net_failover", "virtio_net",
		"vmw_vsock_virtio_transport_common", "vsock", "vmw_vsock_virtio_transport", "uses_builtin"}
	// vsock must come before the transports that depend on it: the
	// order above is a valid one; check validity rather than one order.
	if len(got) != len(want) {
		t.Fatalf("Resolve = %v, want the %d modules %v", got, len(want), want)
	}
	pos := map[string]int{}
	for i, n := range got {
		pos[n] = i
	}
	for _, n := range want {
		if _, ok := pos[n]; !ok {
			t.Errorf("Resolve = %v: %s is missing", got, n)
		}
		for _, d := range mods[n].Depends {
			if p, ok := pos[d]; ok && p > pos[n] {
				t.Errorf("Resolve = %v: %s comes before its dependency %s", got, n, d)
			}
		}
	}
	if _, err := Resolve([]string{"virtio_blk"}, mods, nil); !errdefs.Is(err, errdefs.FailedPrecondition) || !strings.Contains(err.Error(), "module virtio_blk is not in the kernel package") {
		t.Errorf("missing module: %v", err)
	}
	if _, err := Resolve([]string{"broken"}, mods, nil); err == nil || !strings.Contains(err.Error(), "module gone, which broken depends on") {
		t.Errorf("missing dependency: %v", err)
	}
	if _, err := Resolve([]string{"a"}, mods, nil); err == nil || !strings.Contains(err.Error(), "cycle") {
		t.Errorf("cycle: %v", err)
	}
	if got, err := Resolve([]string{"crc32c_generic"}, mods, map[string]bool{"crc32c_generic": true}); err != nil || len(got) != 0 {
		t.Errorf("a wanted built-in = %v, %v; want nothing to load", got, err)
	}
}

func TestParseBuiltin(t *testing.T) {
	got := ParseBuiltin([]byte("kernel/fs/ext4/ext4.ko\nkernel/drivers/char/hw_random/rng-core.ko\n\n"))
	if diff := cmp.Diff(map[string]bool{"ext4": true, "rng_core": true}, got); diff != "" {
		t.Errorf("ParseBuiltin (-want +got):\n%s", diff)
	}
}

// cpioEntry is one entry read back from a newc archive.
type cpioEntry struct {
	Name  string
	Mode  uint32
	Nlink uint32
	Data  string
}

// readCPIO parses a newc archive independently of CPIOWriter, checking
// the alignment rules the kernel's unpacker relies on.
func readCPIO(t *testing.T, b []byte) []cpioEntry {
	t.Helper()
	var out []cpioEntry
	off := 0
	field := func(i int) uint32 {
		v, err := strconv.ParseUint(string(b[off+6+8*i:off+14+8*i]), 16, 32)
		if err != nil {
			t.Fatalf("header at %d field %d: %v", off, i, err)
		}
		return uint32(v)
	}
	for {
		if off%4 != 0 || off+110 > len(b) || string(b[off:off+6]) != "070701" {
			t.Fatalf("no newc header at offset %d", off)
		}
		mode, nlink, size, namesize := field(1), field(4), field(6), field(11)
		rdev := fmt.Sprintf("rdev %d:%d", field(9), field(10))
		if field(2) != 0 || field(3) != 0 || field(5) != 0 {
			t.Errorf("entry at %d: uid, gid or mtime not 0", off)
		}
		name := string(b[off+110 : off+110+int(namesize)-1])
		if b[off+110+int(namesize)-1] != 0 {
			t.Fatalf("%s: name not NUL-terminated", name)
		}
		off = (off + 110 + int(namesize) + 3) &^ 3
		data := string(b[off : off+int(size)])
		off = (off + int(size) + 3) &^ 3
		if name == "TRAILER!!!" {
			if off != len(b) {
				t.Errorf("%d bytes after the trailer", len(b)-off)
			}
			return out
		}
		if mode&0o170000 == 0o020000 {
			data = rdev
		}
		out = append(out, cpioEntry{name, mode, nlink, data})
	}
}

func TestCPIOWriter(t *testing.T) {
	var buf bytes.Buffer
	c := NewCPIOWriter(&buf)
	if err := c.Dir("etc", 0o755); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"a", "etc/ab", "etc/abc", "etc/abcd"} { // every name and data padding
		if err := c.File(n, 0o644, []byte(n)); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.File("empty", 0o600, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.CharDev("etc/console", 0o600, 5, 1); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"", "/abs", "../up", "a/../b", "./a", "a/", ".", "TRAILER!!!"} {
		if err := c.File(bad, 0o644, nil); err == nil {
			t.Errorf("File(%q) accepted", bad)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.File("late", 0o644, nil); err == nil {
		t.Error("File after Close accepted")
	}
	want := []cpioEntry{
		{"etc", 0o040755, 2, ""},
		{"a", 0o100644, 1, "a"},
		{"etc/ab", 0o100644, 1, "etc/ab"},
		{"etc/abc", 0o100644, 1, "etc/abc"},
		{"etc/abcd", 0o100644, 1, "etc/abcd"},
		{"empty", 0o100600, 1, ""},
		{"etc/console", 0o020600, 1, "rdev 5:1"},
	}
	if diff := cmp.Diff(want, readCPIO(t, buf.Bytes())); diff != "" {
		t.Errorf("archive (-want +got):\n%s", diff)
	}
}

// TestWriteDiskOrder: virtio_blk is listed to load after the virtio-mmio
// transport, so that the disks are named in device order, and the other
// drivers after virtio_blk, so that the root disk does not wait for them
// (LoadAfter).
func TestWriteDiskOrder(t *testing.T) {
	mods := []Module{
		{Info: Modinfo{Name: "virtio", Vermagic: release + " SMP"}, Data: []byte("virtio.ko")},
		{Info: Modinfo{Name: "virtio_mmio", Depends: []string{"virtio"}, Vermagic: release + " SMP"}, Data: []byte("mmio.ko")},
		{Info: Modinfo{Name: "virtio_blk", Depends: []string{"virtio"}, Vermagic: release + " SMP"}, Data: []byte("blk.ko")},
		{Info: Modinfo{Name: "virtio_net", Depends: []string{"virtio"}, Vermagic: release + " SMP"}, Data: []byte("net.ko")},
	}
	var buf bytes.Buffer
	if err := Write(&buf, Spec{Release: release, Init: []byte("ELF init"), Modules: mods}); err != nil {
		t.Fatal(err)
	}
	var list string
	for _, e := range readCPIO(t, buf.Bytes()) {
		if e.Name == initlayout.ModuleList {
			list = e.Data
		}
	}
	want := []initlayout.ListEntry{{File: "virtio.ko"}, {File: "virtio_mmio.ko", Depends: []string{"virtio"}},
		{File: "virtio_blk.ko", Depends: []string{"virtio", "virtio_mmio"}}, {File: "virtio_net.ko", Depends: []string{"virtio", "virtio_blk"}}}
	if diff := cmp.Diff(want, initlayout.ParseList(list), cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("module list (-want +got):\n%s", diff)
	}
}

func TestWrite(t *testing.T) {
	mods := []Module{
		{Info: Modinfo{Name: "virtio", Vermagic: release + " SMP"}, Data: []byte("virtio.ko")},
		{Info: Modinfo{Name: "virtio_ring", Vermagic: release + " SMP"}, Data: []byte("ring.ko")},
		// crc32c is built in: banger-init has nothing to wait for.
		{Info: Modinfo{Name: "virtio_blk", Depends: []string{"virtio_ring", "crc32c", "virtio"}, Vermagic: release + " SMP"}, Data: []byte("blk.ko")},
	}
	var buf bytes.Buffer
	if err := Write(&buf, Spec{Release: release, Init: []byte("ELF init"), Modules: mods}); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, e := range readCPIO(t, buf.Bytes()) {
		got[fmt.Sprintf("%s %o", e.Name, e.Mode)] = e.Data
	}
	want := map[string]string{
		"dev 40755": "", "proc 40755": "", "sys 40755": "", "root 40755": "", "etc 40755": "",
		"etc/banger-init 40755": "", "lib 40755": "", "lib/modules 40755": "",
		"dev/console 20600":                 "rdev 5:1",
		"init 100755":                       "ELF init",
		"etc/banger-init/modules 100644":    "virtio.ko\nvirtio_ring.ko\nvirtio_blk.ko virtio virtio_ring\n",
		"lib/modules/virtio.ko 100644":      "virtio.ko",
		"lib/modules/virtio_ring.ko 100644": "ring.ko",
		"lib/modules/virtio_blk.ko 100644":  "blk.ko",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("initramfs (-want +got):\n%s", diff)
	}

	// The list banger-init reads back.
	wantList := []initlayout.ListEntry{{File: "virtio.ko"}, {File: "virtio_ring.ko"}, {File: "virtio_blk.ko", Depends: []string{"virtio", "virtio_ring"}}}
	if diff := cmp.Diff(wantList, initlayout.ParseList(got["etc/banger-init/modules 100644"]), cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("module list read back (-want +got):\n%s", diff)
	}

	// A module before one it depends on would have banger-init wait
	// for a module that is never loaded.
	buf.Reset()
	misordered := []Module{mods[2], mods[0], mods[1]}
	if err := Write(&buf, Spec{Release: release, Init: []byte("ELF init"), Modules: misordered}); err == nil || !strings.Contains(err.Error(), "virtio_blk comes before virtio_ring") {
		t.Errorf("Write with a module before its dependency = %v, want an error", err)
	}

	mods[2].Info.Vermagic = "6.1.0-56-cloud-amd64 SMP"
	buf.Reset()
	err := Write(&buf, Spec{Release: release, Init: []byte("ELF init"), Modules: mods})
	if !errdefs.Is(err, errdefs.FailedPrecondition) || !strings.Contains(err.Error(), "virtio_blk was built for kernel \"6.1.0-56-cloud-amd64\"") {
		t.Errorf("Write with a stale module = %v, want the vermagic error", err)
	}
	if buf.Len() != 0 {
		t.Errorf("Write wrote %d bytes before refusing", buf.Len())
	}
}
