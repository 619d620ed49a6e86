package e2e

import (
	"archive/tar"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// bigSize is the large file of the vm cp round trip: over 100 MiB of
// random data, so nothing compresses or is sparse.
const bigSize = 101<<20 + 12345

// cpTree makes the host tree vm cp round-trips under dir: directories with
// their own modes, a private file, an executable, a symlink, an empty
// file and the big file. It returns the big file's sha256.
func cpTree(t *testing.T, dir string) string {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(dir, "sub", "deep"), 0o755))
	must(os.WriteFile(filepath.Join(dir, "private.txt"), []byte("secret\n"), 0o600))
	must(os.WriteFile(filepath.Join(dir, "sub", "run.sh"), []byte("#!/bin/sh\necho ran\n"), 0o755))
	must(os.WriteFile(filepath.Join(dir, "sub", "deep", "empty"), nil, 0o644))
	must(os.Symlink("sub/run.sh", filepath.Join(dir, "link")))
	f, err := os.OpenFile(filepath.Join(dir, "big.bin"), os.O_CREATE|os.O_WRONLY, 0o640)
	must(err)
	h := sha256.New()
	_, err = io.CopyN(io.MultiWriter(f, h), rand.Reader, bigSize)
	must(err)
	must(f.Close())
	must(os.Chmod(filepath.Join(dir, "sub", "deep"), 0o700))
	// Distinct, whole-second times, set children first.
	when := time.Date(2021, 3, 4, 5, 6, 7, 0, time.UTC)
	for i, p := range []string{"private.txt", "sub/run.sh", "sub/deep/empty", "big.bin", "sub/deep", "sub", "."} {
		tm := when.Add(time.Duration(i) * time.Hour)
		must(os.Chtimes(filepath.Join(dir, p), tm, tm))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// treeState lists every path under root with its type, mode, mtime (not
// for symlinks, whose times are not copied), link target and, for small
// files, content.
func treeState(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		line := rel + " " + info.Mode().String()
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			line += " -> " + target
		case info.Mode().IsRegular() && info.Size() < 1<<20:
			b, _ := os.ReadFile(p)
			line += " " + info.ModTime().UTC().Format(time.RFC3339) + " " + string(b)
		default:
			line += " " + info.ModTime().UTC().Format(time.RFC3339)
		}
		out = append(out, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

func fileSHA(t *testing.T, p string) string {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// testCp round-trips a tree host → guest → host through banger vm cp on
// the running VM name, and a tar through - both ways.
func testCp(t *testing.T, w *world, name string) {
	src := w.path("cp/src")
	sum := cpTree(t, src)
	want := treeState(t, src)

	start := time.Now()
	w.mustGuestBanger("vm", "cp", src, name+":/root/")
	t.Logf("host → guest: %d MiB in %v", bigSize>>20, time.Since(start).Round(time.Millisecond))
	out := w.mustGuestBanger("vm", "exec", name, "--", "sh", "-c",
		"cd /root/src && sha256sum big.bin && stat -c '%n %a' private.txt sub/run.sh sub/deep big.bin && readlink link && ./link")
	for _, s := range []string{sum + "  big.bin", "private.txt 600", "sub/run.sh 755", "sub/deep 700", "big.bin 640", "sub/run.sh\nran\n"} {
		if !strings.Contains(out, s) {
			t.Errorf("in the guest, %q is missing from:\n%s", s, out)
		}
	}

	start = time.Now()
	back := w.path("cp/back")
	w.mustGuestBanger("vm", "cp", name+":/root/src", back)
	t.Logf("guest → host: %d MiB in %v", bigSize>>20, time.Since(start).Round(time.Millisecond))
	if diff := cmp.Diff(want, treeState(t, back)); diff != "" {
		t.Errorf("tree after host → guest → host (-want +got):\n%s", diff)
	}
	if got := fileSHA(t, filepath.Join(back, "big.bin")); got != sum {
		t.Errorf("big.bin sha256 after the round trip = %s, want %s", got, sum)
	}

	// A tar on stdin into an existing guest directory, and back as a tar
	// on stdout.
	var in bytes.Buffer
	tw := tar.NewWriter(&in)
	tw.WriteHeader(&tar.Header{Name: "t/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: time.Unix(1_500_000_000, 0)})
	tw.WriteHeader(&tar.Header{Name: "t/x.sh", Typeflag: tar.TypeReg, Mode: 0o751, Size: 6, ModTime: time.Unix(1_500_000_000, 0)})
	io.WriteString(tw, "hello\n")
	tw.Close()
	w.mustGuestBanger("vm", "exec", name, "--", "mkdir", "-p", "/root/in")
	if o, errs, code := w.guestBanger(in.String(), "vm", "cp", "-", name+":/root/in"); code != 0 {
		t.Fatalf("vm cp - %s:/root/in: exit %d\n%s%s", name, code, o, errs)
	}
	o, errs, code := w.guestBanger("", "vm", "cp", name+":/root/in/t", "-")
	if code != 0 {
		t.Fatalf("vm cp %s:/root/in/t -: exit %d\n%s", name, code, errs)
	}
	var got []string
	tr := tar.NewReader(strings.NewReader(o))
	for {
		h, err := tr.Next()
		if err != nil {
			if err != io.EOF {
				t.Errorf("tar on stdout: %v", err)
			}
			break
		}
		b, _ := io.ReadAll(tr)
		got = append(got, h.Name+" "+fs.FileMode(h.Mode).String()+" "+h.ModTime.UTC().Format(time.RFC3339)+" "+string(b))
	}
	wantTar := []string{"t/ -rwxr-xr-x 2017-07-14T02:40:00Z ", "t/x.sh -rwxr-x--x 2017-07-14T02:40:00Z hello\n"}
	if diff := cmp.Diff(wantTar, got); diff != "" {
		t.Errorf("tar from the guest on stdout (-want +got):\n%s", diff)
	}

	// A hostile tar on stdin is refused by the guest, and the refusal
	// reaches the user even though the rest of the stream was not read.
	var hostile bytes.Buffer
	tw = tar.NewWriter(&hostile)
	tw.WriteHeader(&tar.Header{Name: "../escaped", Typeflag: tar.TypeReg, Mode: 0o644, Size: 8 << 20})
	io.CopyN(tw, rand.Reader, 8<<20)
	tw.Close()
	if _, errs, code := w.guestBanger(hostile.String(), "vm", "cp", "-", name+":/root/in"); code == 0 || !strings.Contains(errs, `contains ".."`) {
		t.Errorf("hostile tar on stdin: exit %d, stderr %q; want the guest's refusal", code, errs)
	}
	if out := w.mustGuestBanger("vm", "exec", name, "--", "sh", "-c", "ls /root/escaped 2>&1 || true"); !strings.Contains(out, "No such file") {
		t.Errorf("/root/escaped exists after a refused upload: %q", out)
	}

	// A path missing in the guest, a missing VM and both sides in VMs.
	for _, tt := range []struct {
		args []string
		says string
	}{
		{[]string{name + ":/root/no-such-file", w.path("cp")}, "/root/no-such-file does not exist in the guest"},
		{[]string{src, "no-such-vm:/root/"}, "no-such-vm"},
		{[]string{name + ":/etc/hostname", name + ":/tmp/"}, "exactly one side"},
		{[]string{"/etc/hostname", name + ":/no/such/dir/"}, "does not exist"},
	} {
		_, errs, code := w.guestBanger("", append([]string{"vm", "cp"}, tt.args...)...)
		if code == 0 || !strings.Contains(errs, tt.says) {
			t.Errorf("vm cp %v: exit %d, stderr %q; want an error saying %q", tt.args, code, errs, tt.says)
		}
	}
}
