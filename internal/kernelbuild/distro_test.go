package kernelbuild

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"banger/internal/errdefs"
	"banger/internal/initramfs"
	"banger/internal/initramfs/initlayout"
)

// arMember appends one ar member to b.
func arMember(b []byte, name string, data []byte) []byte {
	b = append(b, fmt.Sprintf("%-16s%-12d%-6d%-6d%-8s%-10d`\n", name, 0, 0, 0, "100644", len(data))...)
	b = append(b, data...)
	if len(data)%2 == 1 {
		b = append(b, '\n')
	}
	return b
}

type tarEntry struct {
	name, link string
	typ        byte
	data       string
}

func tarGz(t *testing.T, entries []tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		hdr := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: 0o644, Size: int64(len(e.data))}
		if e.typ != tar.TypeReg {
			hdr.Size = 0
		}
		if e.typ == tar.TypeDir {
			hdr.Mode = 0o755
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if e.typ == tar.TypeReg {
			tw.Write([]byte(e.data))
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	zw.Close()
	return buf.Bytes()
}

func fakeDeb(t *testing.T, entries []tarEntry) []byte {
	b := []byte(arMagic)
	b = arMember(b, "debian-binary", []byte("2.0\n"))
	b = arMember(b, "control.tar.gz", tarGz(t, []tarEntry{{name: "./control", typ: tar.TypeReg, data: "Package: x\n"}}))
	return arMember(b, "data.tar.gz", tarGz(t, entries))
}

func TestWalkDeb(t *testing.T) {
	deb := fakeDeb(t, []tarEntry{
		{name: "./", typ: tar.TypeDir},
		{name: "./boot/", typ: tar.TypeDir},
		{name: "./boot/vmlinuz-6.1.0-1-cloud-amd64", typ: tar.TypeReg, data: "kernel"},
		{name: "./boot/link", typ: tar.TypeSymlink, link: "vmlinuz-6.1.0-1-cloud-amd64"},
		{name: "./lib/modules/6.1.0-1-cloud-amd64/kernel/a.ko", typ: tar.TypeReg, data: "module"},
	})
	got := map[string]string{}
	err := walkDeb(bytes.NewReader(deb), func(name string, size int64, r io.Reader) error {
		b, _ := io.ReadAll(r)
		got[name] = string(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"boot/vmlinuz-6.1.0-1-cloud-amd64": "kernel", "lib/modules/6.1.0-1-cloud-amd64/kernel/a.ko": "module"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("walkDeb (-want +got):\n%s", diff)
	}
}

// TestWalkDebRefusesHostileEntries: a package whose data has an entry
// that would land outside the target, or a device node, is refused before
// the walk sees any entry after it.
func TestWalkDebRefusesHostileEntries(t *testing.T) {
	tests := []struct {
		name  string
		entry tarEntry
		want  string
	}{
		{"dot-dot", tarEntry{name: "./boot/../../etc/passwd", typ: tar.TypeReg, data: "x"}, `contains ".."`},
		{"absolute", tarEntry{name: "/etc/shadow", typ: tar.TypeReg, data: "x"}, "not a relative path"},
		{"device", tarEntry{name: "./dev/sda", typ: tar.TypeBlock}, "refused"},
		{"hard link out", tarEntry{name: "./boot/l", typ: tar.TypeLink, link: "../../etc/passwd"}, "refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			deb := fakeDeb(t, []tarEntry{
				{name: "./boot/first", typ: tar.TypeReg, data: "ok"},
				tt.entry,
				{name: "./boot/after", typ: tar.TypeReg, data: "after"},
			})
			var seen []string
			err := walkDeb(bytes.NewReader(deb), func(name string, size int64, r io.Reader) error {
				seen = append(seen, name)
				return nil
			})
			if !errdefs.Is(err, errdefs.InvalidArgument) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("walkDeb = %v, want InvalidArgument saying %q", err, tt.want)
			}
			if diff := cmp.Diff([]string{"boot/first"}, seen); diff != "" {
				t.Errorf("entries seen (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDebDataBadContainers(t *testing.T) {
	good := fakeDeb(t, nil)
	noData := arMember([]byte(arMagic), "debian-binary", []byte("2.0\n"))
	badSize := []byte(arMagic + fmt.Sprintf("%-16s%-12d%-6d%-6d%-8s%-10s`\n", "data.tar.gz", 0, 0, 0, "100644", "-5"))
	lzma := arMember([]byte(arMagic), "data.tar.lzma", []byte("x"))
	for name, tt := range map[string]struct {
		deb  []byte
		want string
	}{
		"not ar":         {[]byte("hello world, not a deb"), "no ar header"},
		"no data member": {noData, "no data.tar member"},
		"bad size":       {badSize, "bad size"},
		"unknown format": {lzma, "does not read"},
		"corrupt xz":     {arMember([]byte(arMagic), "data.tar.xz", []byte("this is not xz data")), "data.tar.xz"},
		"truncated":      {good[:len(good)/2], ""},
		"corrupt header": {append([]byte(arMagic), bytes.Repeat([]byte("x"), 60)...), "corrupt ar member header"},
	} {
		t.Run(name, func(t *testing.T) {
			err := walkDeb(bytes.NewReader(tt.deb), func(string, int64, io.Reader) error { return nil })
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("walkDeb = %v, want an error saying %q", err, tt.want)
			}
		})
	}
}

func TestPackageFile(t *testing.T) {
	const r = "6.1.0-57-cloud-amd64"
	for name, want := range map[string]string{
		"boot/vmlinuz-" + r:                                           "vmlinuz",
		"boot/config-" + r:                                            "config",
		"boot/System.map-" + r:                                        "",
		"boot/vmlinuz-6.1.0-56-cloud-amd64":                           "",
		"lib/modules/" + r + "/modules.builtin":                       "builtin",
		"lib/modules/" + r + "/kernel/drivers/block/virtio_blk.ko":    "module",
		"usr/lib/modules/" + r + "/kernel/net/vmw_vsock/vsock.ko":     "module",
		"lib/modules/6.1.0-56-cloud-amd64/kernel/drivers/x.ko":        "",
		"lib/modules/" + r + "/kernel/drivers/block/virtio_blk.ko.xz": "",
	} {
		if got := packageFile(name, r); got != want {
			t.Errorf("packageFile(%s) = %q, want %q", name, got, want)
		}
	}
}

func TestDiscovery(t *testing.T) {
	for cfg, want := range map[string]string{
		"CONFIG_ACPI=y\nCONFIG_VIRTIO_MMIO_CMDLINE_DEVICES=y\n":                       DiscoveryCmdline,
		"CONFIG_ACPI=y\n# CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES is not set\n":            DiscoveryACPI,
		"# CONFIG_ACPI is not set\n# CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES is not set\n": "",
	} {
		got, err := discovery([]byte(cfg))
		if got != want || (want == "") != (err != nil) {
			t.Errorf("discovery(%q) = %q, %v; want %q", cfg, got, err, want)
		}
	}
}

// TestConfigHZ: the timer frequency comes from the package's config
// (Debian's cloud kernel: 250); a config without it gives 0, and a VM then
// boots without lpj=.
func TestConfigHZ(t *testing.T) {
	for cfg, want := range map[string]int{
		"CONFIG_HZ_250=y\nCONFIG_HZ=250\nCONFIG_SCHED_HRTICK=y\n": 250,
		"CONFIG_HZ_1000=y\nCONFIG_HZ=1000\n":                      1000,
		"# CONFIG_HZ_PERIODIC is not set\nCONFIG_HZ_100=y\n":      0,
		"CONFIG_HZ=x\n":  0,
		"CONFIG_HZ=-1\n": 0,
	} {
		if got := configHZ([]byte(cfg)); got != want {
			t.Errorf("configHZ(%q) = %d, want %d", cfg, got, want)
		}
	}
}

func TestValidPackage(t *testing.T) {
	for s, want := range map[string]bool{
		"linux-image-cloud-amd64": true, "linux-image-6.1.0-57-cloud-amd64": true, "g++": true,
		"-o": false, "a": false, "linux image": false, "x;rm": false, "Linux": false, "": false,
	} {
		if got := validPackage(s); got != want {
			t.Errorf("validPackage(%q) = %v", s, got)
		}
	}
}

// newcList lists a newc cpio archive's entries as "name mode" with their
// data.
func newcList(t *testing.T, b []byte) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for off := 0; ; {
		if off+110 > len(b) || string(b[off:off+6]) != "070701" {
			t.Fatalf("no newc header at %d", off)
		}
		field := func(i int) int {
			v, err := strconv.ParseUint(string(b[off+6+8*i:off+14+8*i]), 16, 32)
			if err != nil {
				t.Fatal(err)
			}
			return int(v)
		}
		mode, size, namesize := field(1), field(6), field(11)
		name := string(b[off+110 : off+110+namesize-1])
		off = (off + 110 + namesize + 3) &^ 3
		if name == "TRAILER!!!" {
			return out
		}
		out[fmt.Sprintf("%s %o", name, mode)] = b[off : off+size]
		off = (off + size + 3) &^ 3
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkInitramfs checks a distro kernel's initramfs: banger-init as
// /init, the console node, and exactly the modules listed, each built for
// the kernel's release, in an order where every module follows its
// dependencies, which the list names.
func checkInitramfs(t *testing.T, initrd, release string, init []byte) []string {
	t.Helper()
	entries := newcList(t, readFile(t, initrd))
	if !bytes.Equal(entries["init 100755"], init) {
		t.Errorf("/init is not banger-init")
	}
	if _, ok := entries["dev/console 20600"]; !ok {
		t.Errorf("no /dev/console node")
	}
	list := initlayout.ParseList(string(entries[initramfs.ModuleList+" 100644"]))
	loaded := map[string]bool{}
	var names []string
	for _, e := range list {
		file := e.File
		data, ok := entries[initramfs.ModuleDir+"/"+file+" 100644"]
		if !ok {
			t.Fatalf("module %s is listed but not in the archive", file)
		}
		info, err := initramfs.ParseModinfo(data)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if info.Release() != release {
			t.Errorf("%s is built for %q, not %q", file, info.Release(), release)
		}
		var listed []string
		for _, d := range info.Depends {
			if !loaded[d] {
				t.Errorf("%s comes before its dependency %s", info.Name, d)
			}
			listed = append(listed, d)
		}
		// Plus the orderings the builder adds (initramfs.LoadAfter).
		for _, d := range initramfs.LoadAfter[info.Name] {
			if loaded[d] && !slices.Contains(listed, d) {
				listed = append(listed, d)
			}
		}
		slices.Sort(listed)
		if diff := cmp.Diff(listed, e.Depends, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("the list's dependencies of %s (-modinfo and LoadAfter +list):\n%s", info.Name, diff)
		}
		loaded[info.Name] = true
		names = append(names, info.Name)
	}
	mods := 0
	for k := range entries {
		if strings.HasPrefix(k, initramfs.ModuleDir+"/") {
			mods++
		}
	}
	if mods != len(list) {
		t.Errorf("the archive has %d modules but lists %d", mods, len(list))
	}
	for _, n := range initramfs.Needed {
		if !loaded[n] {
			t.Errorf("needed module %s is missing", n)
		}
	}
	return names
}

// CheckInitramfsForTest exposes checkInitramfs to the external test
// package.
var CheckInitramfsForTest = checkInitramfs

// CheckVmlinuxForTest checks that the file at path is an x86_64 ELF
// kernel.
func CheckVmlinuxForTest(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return checkELF(b)
}

// CompareSourcesForTest scans the .deb and the tree it was unpacked to
// (root) for the release in the .deb's name, resolves the needed modules
// in each and reads them, and returns for each the needed files in load
// order (the kernel first) with their sha256.
func CompareSourcesForTest(ctx context.Context, deb, root string) (fromDeb, fromTree []string, err error) {
	base := filepath.Base(deb) // linux-image-R_V_amd64.deb
	release := strings.TrimPrefix(strings.SplitN(base, "_", 2)[0], "linux-image-")
	list := func(src kernelSource) ([]string, error) {
		kf, err := src.scan(ctx)
		if err != nil {
			return nil, err
		}
		infos := map[string]initramfs.Modinfo{}
		for n, m := range kf.modules {
			infos[n] = m.info
		}
		order, err := initramfs.Resolve(initramfs.Needed, infos, kf.builtin)
		if err != nil {
			return nil, err
		}
		paths := []string{kf.vmlinuz}
		for _, n := range order {
			paths = append(paths, kf.modules[n].path)
		}
		files, err := src.read(ctx, paths)
		if err != nil {
			return nil, err
		}
		var out []string
		for _, p := range paths {
			out = append(out, fmt.Sprintf("%s %x", p, sha256.Sum256(files[p])))
		}
		return out, nil
	}
	if fromDeb, err = list(debSource(deb, release)); err != nil {
		return nil, nil, err
	}
	fromTree, err = list(installedSource(root, release))
	return fromDeb, fromTree, err
}

func TestDlstatus(t *testing.T) {
	for line, want := range map[string]float64{
		"dlstatus:1:0.0000:Retrieving file 1 of 1":                                     0,
		"dlstatus:1:45.2500:Retrieving file 1 of 1":                                    45.25,
		"dlstatus:1:100.0000:Retrieving file 1 of 1":                                   100,
		"Get:1 http://deb.debian.org/debian bookworm/main amd64 linux-image [26.7 MB]": -1,
		"dlstatus:1:abc:x": -1,
		"dlstatus:1:250:x": -1,
		"dlstatus:":        -1,
	} {
		got, ok := dlstatus(line)
		if (want < 0) == ok || (ok && got != want) {
			t.Errorf("dlstatus(%q) = %v, %v; want %v", line, got, ok, want)
		}
	}
}
