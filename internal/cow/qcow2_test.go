package cow

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"banger/internal/errdefs"
)

func needQemuImg(t *testing.T) {
	t.Helper()
	for _, tool := range []string{"qemu-img", "qemu-io"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s missing (install qemu-utils): %v", tool, err)
		}
	}
}

func isQCOW2(t *testing.T, path string) bool {
	t.Helper()
	f, err := Format(path)
	if err != nil {
		t.Fatal(err)
	}
	return f == FormatQCOW2
}

// readQCOW2 reads the disk an overlay holds with qemu-img convert.
func readQCOW2(t *testing.T, path string) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "raw")
	run(t, "qemu-img", "convert", "-U", "-f", "qcow2", "-O", "raw", path, out)
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// writeQCOW2 writes data at off into the disk an overlay holds with
// qemu-io, as qemu does for its guest.
func writeQCOW2(t *testing.T, path string, data []byte, off int64) {
	t.Helper()
	src := filepath.Join(t.TempDir(), "data")
	if err := os.WriteFile(src, data, 0o600); err != nil {
		t.Fatal(err)
	}
	run(t, "qemu-io", "-f", "qcow2", "-c", "write -q -s "+src+" "+strconv.FormatInt(off, 10)+" "+strconv.Itoa(len(data)), path)
}

func run(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
	return out
}

// The overlay banger writes is one qemu reads as an empty qcow2 overlay of
// the raw image, and qemu-img check finds nothing wrong with it, for
// images small and large (a large one needs more than one L1 entry).
func TestQCOW2OverlayIsWhatQemuReads(t *testing.T) {
	needQemuImg(t)
	for _, size := range []int64{imageSize, 3<<30 + 4096, 300 << 30} {
		t.Run(strconv.FormatInt(size, 10), func(t *testing.T) {
			dir := t.TempDir()
			img := filepath.Join(dir, "image, with a comma.ext4")
			if err := os.WriteFile(img, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(img, size); err != nil {
				t.Fatal(err)
			}
			dst := filepath.Join(dir, "root.ext4")
			if err := (qcow2Overlays{}).CloneImage(context.Background(), img, dst); err != nil {
				t.Fatal(err)
			}
			run(t, "qemu-img", "check", "-q", "-f", "qcow2", dst)
			var info struct {
				Format          string `json:"format"`
				VirtualSize     int64  `json:"virtual-size"`
				ClusterSize     int64  `json:"cluster-size"`
				BackingFilename string `json:"backing-filename"`
				BackingFormat   string `json:"backing-filename-format"`
			}
			if err := json.Unmarshal(run(t, "qemu-img", "info", "-U", "--output=json", dst), &info); err != nil {
				t.Fatal(err)
			}
			want := info
			want.Format, want.VirtualSize, want.ClusterSize, want.BackingFilename, want.BackingFormat = "qcow2", size, 65536, img, "raw"
			if info != want {
				t.Errorf("qemu-img info: %+v, want %+v", info, want)
			}
			fi, err := os.Stat(dst)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Size() > 1<<20 {
				t.Errorf("an empty overlay of %d bytes is %d bytes", size, fi.Size())
			}
			// Written: the header, one refcount table entry and the
			// refcount block's first entries; the rest is holes.
			if u, err := fileUsage(dst); err != nil || u.Allocated > 64<<10 {
				t.Errorf("an empty overlay takes %d bytes on disk (%v), want at most 64 KiB", u.Allocated, err)
			}
			if f, err := Format(dst); err != nil || f != FormatQCOW2 {
				t.Errorf("Format of the overlay: %q, %v", f, err)
			}
		})
	}
}

// A raw disk whose guest wrote a qcow2 header naming a host file as its
// backing file is still raw: the format comes from banger's record, never
// from the disk.
func TestFormatIsNeverGuessedFromContent(t *testing.T) {
	needQemuImg(t)
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	if err := os.WriteFile(secret, []byte("host secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	disk := filepath.Join(dir, "root.ext4")
	run(t, "qemu-img", "create", "-q", "-f", "qcow2", "-b", secret, "-F", "raw", disk, "1M")
	if f, err := Format(disk); err != nil || f != FormatRaw {
		t.Errorf("Format of a raw disk holding a qcow2 header: %q, %v, want raw", f, err)
	}
	// Its copy stays raw too.
	cp := filepath.Join(dir, "copy.ext4")
	if err := (qcow2Overlays{}).Clone(context.Background(), disk, cp); err != nil {
		t.Fatal(err)
	}
	if f, err := Format(cp); err != nil || f != FormatRaw {
		t.Errorf("Format of its copy: %q, %v, want raw", f, err)
	}
	if err := os.WriteFile(disk+formatSuffix, []byte(`{"format":"vmdk"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Format(disk); !errdefs.Is(err, errdefs.FailedPrecondition) {
		t.Errorf("an unknown recorded format: %v, want failed precondition", err)
	}
}

// A snapshot of a VM on qcow2 copies its overlay, keeping the record of
// its format, whichever strategy the daemon runs now; removing the copy
// removes the record.
func TestCloneDiskKeepsQCOW2(t *testing.T) {
	needQemuImg(t)
	dir := t.TempDir()
	img := filepath.Join(dir, "image.ext4")
	if err := os.WriteFile(img, bytes.Repeat([]byte("image "), 100000), 0o600); err != nil {
		t.Fatal(err)
	}
	a := filepath.Join(dir, "a.ext4")
	if err := CloneImage(context.Background(), qcow2Overlays{}, img, a); err != nil {
		t.Fatal(err)
	}
	writeQCOW2(t, a, []byte("written by a"), 10)
	want := readQCOW2(t, a)
	snap := filepath.Join(dir, "snap.ext4")
	if err := CloneDisk(context.Background(), sparse{}, a, snap); err != nil {
		t.Fatal(err)
	}
	if !isQCOW2(t, snap) {
		t.Fatal("a copy of an overlay made by the sparse strategy is not recorded as qcow2")
	}
	writeQCOW2(t, a, []byte("after the snapshot"), 10)
	if got := readQCOW2(t, snap); !bytes.Equal(got, want) {
		t.Error("the snapshot's copy does not hold the disk as it was")
	}
	if err := (sparse{}).Remove(snap); err != nil {
		t.Fatal(err)
	}
	if entries := readDir(t, dir); strings.Join(entries, " ") != "a.ext4 a.ext4.format image.ext4" {
		t.Errorf("after removing the copy: %v", entries)
	}
}

// An overlay refers to its image by an absolute path (qemu would resolve a
// relative one against the overlay, and read "proto:..." as a protocol).
func TestQCOW2RefusesRelativeBacking(t *testing.T) {
	if _, err := qcow2Header("images/root.ext4", 1<<20); !errdefs.Is(err, errdefs.InvalidArgument) {
		t.Errorf("relative backing file: %v, want invalid argument", err)
	}
	if _, err := qcow2Header("/"+strings.Repeat("a", maxBackingName), 1<<20); !errdefs.Is(err, errdefs.InvalidArgument) {
		t.Errorf("overlong backing file: %v, want invalid argument", err)
	}
}

func TestOpenQCOW2(t *testing.T) {
	dir := t.TempDir()
	if fsName(dir) == "xfs" || fsName(dir) == "btrfs" {
		t.Skipf("the temporary directory is on %s, which clones", fsName(dir))
	}
	ctx := context.Background()
	if _, _, err := Open(ctx, Options{StateDir: dir, Force: NameQCOW2, Driver: "firecracker"}); !errdefs.Is(err, errdefs.FailedPrecondition) || !strings.Contains(err.Error(), "qemu") {
		t.Errorf("qcow2 with firecracker: %v, want failed precondition naming qemu", err)
	}
	s, why, err := Open(ctx, Options{StateDir: dir, UID: os.Getuid(), Driver: DriverQEMU})
	if err != nil || s.Name() != NameQCOW2 || !strings.Contains(why, "qemu") {
		t.Errorf("auto with qemu on %s: %v (%s), %v; want qcow2 naming qemu", fsName(dir), s, why, err)
	}
	s, _, err = Open(ctx, Options{StateDir: dir, UID: os.Getuid(), Driver: "firecracker"})
	if err != nil || s.Name() != NameSparse {
		t.Errorf("auto with firecracker on %s: %v, %v; want sparse", fsName(dir), s, err)
	}
	s, _, err = Open(ctx, Options{StateDir: dir, UID: os.Getuid(), Driver: DriverQEMU, Force: NameSparse})
	if err != nil || s.Name() != NameSparse {
		t.Errorf("sparse asked for with qemu: %v, %v; want sparse", s, err)
	}
}

// An overlay reads its image's unwritten blocks: once the image file is
// changed in place, replaced or removed, CheckImage refuses the overlay
// (the daemon checks it at every start), and a copy of it likewise; a raw
// copy does not care.
func TestCheckImageRefusesAChangedImage(t *testing.T) {
	for name, change := range map[string]func(t *testing.T, img string){
		"unchanged": func(*testing.T, string) {},
		"edited in place": func(t *testing.T, img string) {
			f, err := os.OpenFile(img, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.WriteAt([]byte("edited"), 100); err != nil {
				t.Fatal(err)
			}
		},
		"replaced": func(t *testing.T, img string) {
			tmp := img + ".new"
			if err := os.WriteFile(tmp, bytes.Repeat([]byte("image "), 1000), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(tmp, img); err != nil {
				t.Fatal(err)
			}
		},
		"removed": func(t *testing.T, img string) {
			if err := os.Remove(img); err != nil {
				t.Fatal(err)
			}
		},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			img := filepath.Join(dir, "image.ext4")
			if err := os.WriteFile(img, bytes.Repeat([]byte("image "), 1000), 0o600); err != nil {
				t.Fatal(err)
			}
			// An mtime in the past, so that an edit now changes it.
			old := time.Now().Add(-time.Hour)
			if err := os.Chtimes(img, old, old); err != nil {
				t.Fatal(err)
			}
			a, snap, raw := filepath.Join(dir, "a.ext4"), filepath.Join(dir, "snap.ext4"), filepath.Join(dir, "raw.ext4")
			if err := CloneImage(context.Background(), qcow2Overlays{}, img, a); err != nil {
				t.Fatal(err)
			}
			if err := CloneDisk(context.Background(), sparse{}, a, snap); err != nil {
				t.Fatal(err)
			}
			if err := CloneDisk(context.Background(), sparse{}, img, raw); err != nil {
				t.Fatal(err)
			}
			change(t, img)
			for _, d := range []string{a, snap} {
				err := CheckImage(d)
				if name == "unchanged" {
					if err != nil {
						t.Errorf("CheckImage(%s): %v", filepath.Base(d), err)
					}
					continue
				}
				if !errdefs.Is(err, errdefs.FailedPrecondition) || !strings.Contains(err.Error(), img) {
					t.Errorf("CheckImage(%s): %v, want failed precondition naming the image", filepath.Base(d), err)
				}
			}
			if err := CheckImage(raw); err != nil {
				t.Errorf("CheckImage of a raw copy: %v", err)
			}
		})
	}
}
